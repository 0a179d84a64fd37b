from confsvc.cli.main import main

raise SystemExit(main())
