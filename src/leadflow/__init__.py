"""leadflow: the CRM core that takes a person from first interest to closed deal."""
