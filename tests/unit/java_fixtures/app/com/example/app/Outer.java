package com.example.app;

// Only the public static nested class is a component: Outer$InnerBatchlet, "innerBatchlet".
public class Outer {
    @javax.inject.Named
    public static class InnerBatchlet extends javax.batch.api.AbstractBatchlet {
    }

    public class NotStatic implements javax.batch.api.Batchlet {
    }

    private static class Hidden implements javax.batch.api.Batchlet {
    }

    Object anonymous = new javax.batch.api.AbstractBatchlet() {
    };

    void local() {
        class Local implements javax.batch.api.Batchlet {
        }
    }
}
