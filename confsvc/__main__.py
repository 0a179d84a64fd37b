from confsvc.cli.entry import entry

entry()
