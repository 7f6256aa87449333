package com.example.app;

// Not a batch artifact.
public class Plain {
}
