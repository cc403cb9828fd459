"""Typed errors for the IKE engine.

A packet must never crash the daemon (DESIGN.md): every failure the engine can
meet while processing peer input is one of these, so the caller can map it to
a notify (`notify`) or a counted drop with a log line instead of catching
broad exceptions. Other modules may add subclasses here.
"""

from __future__ import annotations

from cygnet.ike.iana import NotifyType


class IkeError(Exception):
    """Base of every engine error.

    `notify` is the error notify a responder would send for it, or None when
    RFC 7296 says to drop the message silently.
    """

    notify: NotifyType | None = None


class IntegrityError(IkeError):
    """A MAC or AEAD tag did not verify, or ciphertext was malformed.

    RFC 7296 §2.21.2: a message that fails integrity checks is dropped
    without a response, so there is no notify.
    """

    notify = None


class InvalidKeError(IkeError):
    """A peer's key exchange value is unusable (RFC 6989 checks, bad length).

    RFC 6989 §2: the receiver MUST NOT use such a value; RFC 7296 §1.5 treats
    a malformed payload as INVALID_SYNTAX.
    """

    notify = NotifyType.INVALID_SYNTAX


class UnsupportedTransform(IkeError):
    """A transform id (or key length) we do not implement or that is malformed.

    During negotiation such a transform is simply not selectable, which ends
    in NO_PROPOSAL_CHOSEN when nothing else fits.
    """

    notify = NotifyType.NO_PROPOSAL_CHOSEN
