"""The `tcplab` command."""
