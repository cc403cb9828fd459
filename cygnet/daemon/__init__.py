"""The asyncio daemon (pluto): sockets, timers, connections, the control socket."""
