"""Network-namespace labs for the demo and the tests.

- `netns`: namespaces, veths, background processes; `Lab` removes all it made.
- `topology`: Libreswan's west/east/road/nic/north test network.
- `strongswan`: real strongSwan 5.9.8 charons (kernel-libipsec) and swanctl.
- `libreswan`: real Libreswan 4.10 plutos from its unpacked .deb.
"""
