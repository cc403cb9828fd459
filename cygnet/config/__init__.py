"""Libreswan's configuration language: ipsec.conf, ipsec.secrets, policy groups."""
