"""The `ipsec` and `cygnet` commands: Libreswan's verbs and flags, plus our own."""
