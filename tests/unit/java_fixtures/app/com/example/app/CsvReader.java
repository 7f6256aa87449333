package com.example.app;

// An item reader through a superclass in base.jar; @Named without a value: "csvReader".
@javax.inject.Named
public class CsvReader extends com.example.base.BaseReader {
}
