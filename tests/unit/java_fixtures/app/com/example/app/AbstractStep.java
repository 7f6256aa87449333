package com.example.app;

// Abstract: not a component.
public abstract class AbstractStep implements javax.batch.api.Batchlet {
}
