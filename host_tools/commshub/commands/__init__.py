"""One module per `commshub` subcommand; each exposes `register(subparsers)`."""
