"""Network-namespace topologies (Libreswan's west/east/road/nic) for demo and tests."""
