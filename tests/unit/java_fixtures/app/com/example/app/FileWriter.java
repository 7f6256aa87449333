package com.example.app;

// An item writer through an interface in base.jar; no @Named: its class name.
public class FileWriter implements com.example.base.CountingWriter {
}
