package com.example.app;

// Through the API's jakarta AbstractPartitionReducer; an empty name is CDI's default name.
@jakarta.inject.Named("")
public class TotalReducer extends jakarta.batch.api.partition.AbstractPartitionReducer {
}
