package com.example.base;

// In base.jar: the superclass of app.jar's CsvReader.
public abstract class BaseReader implements javax.batch.api.chunk.ItemReader {
}
