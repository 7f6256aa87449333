package com.example.app;

// The jakarta namespace, named.
@jakarta.inject.Named("route")
public class RouteDecider implements jakarta.batch.api.Decider {
}
