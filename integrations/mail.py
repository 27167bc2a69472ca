"""E-mail over SMTP (smtplib). The Message-ID is derived from the idempotency key, so a receiver (or a mail
archive) that deduplicates on it keeps one copy; the comms archive is checked before sending as well."""

from __future__ import annotations

import hashlib
import os
import smtplib
from email.message import EmailMessage
from email.utils import formatdate

from integrations.channels import ChannelError
from playbook.config import EmailChannel


def message_id(key: str, sender: str) -> str:
    domain = sender.rpartition("@")[2] or "firebreak.local"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def build_message(channel: EmailChannel, subject: str, text: str, key: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = channel.sender
    msg["To"] = ", ".join(channel.to)
    msg["Subject"] = subject
    msg["Message-ID"] = message_id(key, channel.sender)
    msg["Date"] = formatdate(usegmt=True)
    msg["X-Firebreak-Key"] = key
    msg.set_content(text)
    return msg


def send(channel: EmailChannel, subject: str, text: str, key: str) -> str:
    """Send one message; its Message-ID."""
    msg = build_message(channel, subject, text, key)
    try:
        with smtplib.SMTP(channel.host, channel.port, timeout=channel.timeout_seconds) as smtp:
            if channel.starttls:
                smtp.starttls()
            if channel.username_env:
                smtp.login(os.environ.get(channel.username_env, ""),
                           os.environ.get(channel.password_env or "", ""))
            refused = smtp.send_message(msg)
    except (smtplib.SMTPException, OSError) as err:
        raise ChannelError(f"SMTP {channel.host}:{channel.port} failed: {err}") from err
    if refused:
        raise ChannelError(f"SMTP {channel.host}:{channel.port} refused {', '.join(sorted(refused))}")
    return str(msg["Message-ID"])

