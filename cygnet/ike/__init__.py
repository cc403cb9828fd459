"""The IKEv2 protocol engine. Sans-IO: no sockets, no clock, no kernel."""
