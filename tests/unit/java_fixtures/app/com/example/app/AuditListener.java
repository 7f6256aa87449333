package com.example.app;

// Three listener interfaces, both namespaces: one "listener" component.
public class AuditListener extends javax.batch.api.listener.AbstractJobListener
        implements javax.batch.api.listener.StepListener,
        jakarta.batch.api.chunk.listener.ItemReadListener {
}
