package com.example.app;

import java.util.function.Supplier;

// Implements Batchlet directly; no @Named: its class name. Its constant pool holds Long, Double,
// MethodHandle, MethodType and InvokeDynamic entries.
public class DirectBatchlet implements javax.batch.api.Batchlet {
    static final long BIG = 1L << 40;
    static final double RATIO = 0.25;

    public String process(int n) {
        Supplier<String> later = () -> "done " + n + BIG + RATIO;
        Runnable anonymous = new Runnable() {
            public void run() {
            }
        };
        anonymous.run();
        return later.get();
    }
}

// Not public: not a component.
class HelperBatchlet implements javax.batch.api.Batchlet {
}
