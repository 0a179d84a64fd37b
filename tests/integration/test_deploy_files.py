"""deploy/confsvc.service passes ``systemd-analyze verify`` (and its sandbox scores well);
deploy/Dockerfile builds in two stages and runs as a user, checked on /readyz, with no
build tools in the final image. (No container engine runs here, so the Dockerfile's
properties are read from the file, not from a built image.)"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

UNIT = ROOT / "deploy" / "confsvc.service"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
EXEC = "/opt/confsvc/venv/bin/confsvc"


def _systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("systemd-analyze is absent (Debian's systemd package provides it)")
    return found


def _unit_with_existing_binary(tmp_path: Path) -> Path:
    """The unit with ExecStart pointed at this checkout's confsvc (verify checks the path)."""
    confsvc = Path(sys.executable).parent / "confsvc"
    assert confsvc.exists(), f"{confsvc}: install the project (pip install -e .)"
    text = UNIT.read_text("utf-8")
    assert f"ExecStart={EXEC} " in text
    out = tmp_path / "confsvc.service"
    out.write_text(text.replace(f"ExecStart={EXEC} ", f"ExecStart={confsvc} "), "utf-8")
    return out


def test_systemd_unit_verifies_without_a_warning(tmp_path: Path) -> None:
    tool = _systemd_analyze()
    unit = _unit_with_existing_binary(tmp_path)
    result = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    # verify only warns about unknown keys or bad values: any message is a failure here.
    assert [line for line in result.stderr.splitlines() if unit.name in line] == []


def test_systemd_verify_would_catch_a_misspelt_key(tmp_path: Path) -> None:
    tool = _systemd_analyze()
    unit = _unit_with_existing_binary(tmp_path)
    unit.write_text(unit.read_text("utf-8").replace("ProtectSystem=", "ProtectSystm="), "utf-8")
    result = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert "Unknown key 'ProtectSystm'" in result.stderr


def test_systemd_unit_is_sandboxed(tmp_path: Path) -> None:
    text = UNIT.read_text("utf-8")
    settings = dict(
        line.split("=", 1) for line in text.splitlines() if re.match(r"^[A-Z]\w+=", line)
    )
    assert settings["DynamicUser"] == "yes"
    assert settings["StateDirectory"] == "confsvc"
    assert settings["ProtectSystem"] == "strict"
    assert settings["PrivateTmp"] == "yes"
    assert settings["NoNewPrivileges"] == "yes"
    assert settings["LoadCredential"] == "secret:/etc/confsvc/secret"
    assert "--secret-file %d/secret" in settings["ExecStart"]
    tool = _systemd_analyze()
    unit = _unit_with_existing_binary(tmp_path)
    # systemd's own exposure score (0 best, 10 worst); fail above 2.5 ("OK" is below 4).
    result = subprocess.run(
        [tool, "security", "--offline=yes", "--threshold=25", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    score = re.search(r"Overall exposure level for confsvc\.service: ([\d.]+)", result.stdout)
    assert score is not None and float(score.group(1)) <= 2.5, result.stdout[-500:]


def _stages(text: str) -> list[list[str]]:
    """The Dockerfile's instructions per stage, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", text)
    stages: list[list[str]] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        stages[-1].append(line)
    return stages


def test_dockerfile_builds_a_wheel_then_runs_it_slim_as_a_user_checked_on_readyz() -> None:
    stages = _stages(DOCKERFILE.read_text("utf-8"))
    assert len(stages) == 2
    build, final = stages
    assert build[0].split()[1:] == ["python:3.11-slim", "AS", "build"]
    assert any("pip wheel" in line for line in build)
    assert final[0] == "FROM python:3.11-slim"

    users = [line.split()[1] for line in final if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0", "0:0")
    health = [line for line in final if line.startswith("HEALTHCHECK ")]
    assert len(health) == 1
    assert "http://127.0.0.1:8080/readyz" in health[0]
    assert "urllib.request" in health[0]  # slim has no curl
    # Only the wheels from the build stage are installed: nothing is fetched or compiled.
    installs = [line for line in final if "pip install" in line]
    assert len(installs) == 1
    assert "--no-index" in installs[0] and "from=build" in installs[0]
    final_text = " ".join(final)
    for tool in ("gcc", "build-essential", "apt-get", "make ", "COPY confsvc", "COPY web"):
        assert tool not in final_text, tool
    assert not any(line.startswith(("ADD ", "COPY ")) for line in final)
    assert 'ENTRYPOINT ["confsvc"]' in final


def test_healthcheck_command_is_valid_python() -> None:
    final = _stages(DOCKERFILE.read_text("utf-8"))[1]
    health = next(line for line in final if line.startswith("HEALTHCHECK "))
    code = re.search(r'"-c", "(.*)"\]', health)
    assert code is not None
    compile(code.group(1), "HEALTHCHECK", "exec")
