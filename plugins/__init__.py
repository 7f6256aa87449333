"""Built-in plugins of jsbus (import name ``jsbus_plugins``), registered through entry points."""
