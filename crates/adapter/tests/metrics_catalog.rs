//! The README's metrics table is the adapter's catalog of metrics, exactly.

use bridge_adapter::metrics::CATALOG;

/// The rows of the README's metrics table: name, kind, labels.
fn readme_rows() -> Vec<(String, String, Vec<String>)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    readme
        .lines()
        .skip_while(|line| !line.starts_with("| metric | kind | labels |"))
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let labels = cells[3]
                .split(',')
                .map(|label| label.trim().trim_matches('`').to_owned())
                .filter(|label| !label.is_empty())
                .collect();
            (
                cells[1].trim_matches('`').to_owned(),
                cells[2].to_owned(),
                labels,
            )
        })
        .collect()
}

#[test]
fn the_readme_lists_every_metric_of_the_catalog_with_its_kind_and_labels() {
    let catalog: Vec<(String, String, Vec<String>)> = CATALOG
        .iter()
        .map(|metric| {
            (
                metric.name.to_owned(),
                metric.kind.as_str().to_owned(),
                metric.labels.iter().map(|l| (*l).to_owned()).collect(),
            )
        })
        .collect();
    assert_eq!(readme_rows(), catalog);
}
