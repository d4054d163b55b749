"""Talking to a device: the protocol codec (pure), the serial client, emulator and process launchers."""


def connect(port: str, **kwargs):
    """``with edgesnn.device.connect("socket://127.0.0.1:5555") as dev: dev.info()``."""
    from edgesnn.device.client import Device

    return Device.open(port, **kwargs)
