DROP TABLE metadata_stamps;
