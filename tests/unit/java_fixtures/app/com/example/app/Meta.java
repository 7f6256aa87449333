package com.example.app;

import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;

// A runtime annotation with elements of every kind: not a component.
@Retention(RetentionPolicy.RUNTIME)
public @interface Meta {
    int n();

    String[] tags();

    Class<?> type();

    RetentionPolicy policy();

    javax.inject.Named nested();
}
