"""The command line: thin, one module per subcommand, one error handler in ``main``."""
