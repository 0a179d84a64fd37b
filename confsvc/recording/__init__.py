"""Recording (issue 16): when a conference is recorded is ``confsvc.core.recording``'s
rule; the files are ``confsvc.media.recorder``'s; this package starts and stops the
recorders (``service``), lists the files (``files``) and serves the organiser's page,
downloads and the press kit (``web``). docs/recording.md describes all of it."""
