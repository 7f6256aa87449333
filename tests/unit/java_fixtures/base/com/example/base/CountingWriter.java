package com.example.base;

// In base.jar: the interface of app.jar's FileWriter.
public interface CountingWriter extends javax.batch.api.chunk.ItemWriter {
}
