package com.example.app;

// Through the API's AbstractBatchlet, named; @Meta has element values of every kind to read past.
@javax.inject.Named("cleanup")
@Meta(n = 3, tags = {"a", "b"}, type = String.class,
      policy = java.lang.annotation.RetentionPolicy.CLASS,
      nested = @javax.inject.Named("inner"))
public class CleanupBatchlet extends javax.batch.api.AbstractBatchlet {
}
