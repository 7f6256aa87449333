package com.example.app;

// An interface: not a component.
public interface CustomBatchlet extends javax.batch.api.Batchlet {
}
