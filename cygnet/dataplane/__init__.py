"""Data planes: kernel XFRM and userspace ESP over TUN, behind one interface."""
