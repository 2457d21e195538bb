//! `feedmixer kinds [KIND]`: the component kinds flows can use and the
//! hydrators behind the features they read, from the same registry the
//! server builds flows with; with a kind, its params as declared.

use anyhow::bail;
use feedmixer_flow::Registry;

pub fn run(kind: Option<&str>) -> anyhow::Result<()> {
    let registry = feedmixer_components::registry();
    match kind {
        None => list(&registry),
        Some(name) => show(&registry, name)?,
    }
    Ok(())
}

fn list(registry: &Registry) {
    for kind in registry.kinds() {
        println!(
            "{:<10} {:<20} {}",
            kind.role.as_str(),
            kind.name,
            kind.description
        );
    }
    for hydrator in registry.hydrators() {
        let features: Vec<&str> = hydrator.provides.iter().map(|f| f.name).collect();
        println!(
            "{:<10} {:<20} {} (provides {}; {}, {} ms budget)",
            "hydrator",
            hydrator.name,
            hydrator.description,
            features.join(", "),
            hydrator.cost.as_str(),
            hydrator.budget.as_millis()
        );
    }
}

fn show(registry: &Registry, name: &str) -> anyhow::Result<()> {
    let matches: Vec<_> = registry
        .kinds()
        .into_iter()
        .filter(|k| k.name == name)
        .collect();
    if matches.is_empty() {
        let known: Vec<&str> = registry.kinds().iter().map(|k| k.name).collect();
        bail!("unknown kind {name:?} (kinds: {})", known.join(", "));
    }
    for kind in matches {
        println!("{} {}: {}", kind.role.as_str(), kind.name, kind.description);
        for feature in kind.reads {
            let by = registry.provider(*feature).map_or("nothing", |h| h.name);
            println!("  reads feature {} (hydrator {by})", feature.name);
        }
        let params = (kind.params)();
        if params.is_empty() {
            println!("  no params");
        }
        for p in params {
            let bounds = if p.bounds.is_empty() {
                String::new()
            } else {
                format!(" in {}", p.bounds)
            };
            println!("  {} = {}{bounds}  # {}", p.name, p.default, p.doc);
        }
    }
    Ok(())
}
