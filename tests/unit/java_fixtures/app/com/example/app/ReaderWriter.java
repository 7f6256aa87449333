package com.example.app;

// Two kinds: two components.
public class ReaderWriter implements javax.batch.api.chunk.ItemReader,
        javax.batch.api.chunk.ItemWriter {
}
