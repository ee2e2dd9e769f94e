//! Several orgs in one body: each org's exposition is written on its own (by the same
//! writers as a single org's), then merged here family by family, each sample labelled with
//! its org. Both formats require every sample of a family to follow that family's one
//! descriptor, so the orgs' texts cannot simply be concatenated.
//!
//! The input is text this exporter wrote itself ([`super::exposition::Exposition`] and
//! prometheus-client): a family is `# HELP`, then `# TYPE` (and `# UNIT`), then its samples;
//! a sample line is its name, optionally `{labels}`, a space and the value.

use std::collections::HashMap;

use super::exposition::Labels;

/// Families in the order first seen, each with its descriptor and the samples of every part.
#[derive(Default)]
pub(crate) struct Merged {
    families: Vec<Block>,
    index: HashMap<String, usize>,
}

struct Block {
    header: String,
    samples: String,
}

impl Merged {
    /// Adds one part's text; `org`'s label goes first on each of its samples. `# EOF` lines
    /// are dropped: the merged body is ended once, by its writer.
    pub(crate) fn add(&mut self, text: &str, org: Option<&Labels>) {
        let org = org.map(Labels::as_str).filter(|l| !l.is_empty());
        // The block the lines belong to, and whether this part has already written its
        // descriptor lines (a family seen in an earlier part keeps that part's).
        let mut current: Option<(usize, bool)> = None;
        for line in text.lines() {
            if line.is_empty() || line == "# EOF" {
                continue;
            }
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap_or(rest);
                let (i, fresh) = match self.index.get(name) {
                    Some(&i) => (i, false),
                    None => {
                        self.index.insert(name.to_string(), self.families.len());
                        self.families.push(Block {
                            header: String::new(),
                            samples: String::new(),
                        });
                        (self.families.len() - 1, true)
                    }
                };
                current = Some((i, fresh));
            }
            let Some((i, fresh)) = current else {
                // Text before any descriptor is not something the writers produce.
                continue;
            };
            let block = &mut self.families[i];
            if line.starts_with('#') {
                if fresh {
                    block.header.push_str(line);
                    block.header.push('\n');
                }
                continue;
            }
            push_sample(&mut block.samples, line, org);
        }
    }

    /// The merged families, in the order first seen.
    pub(crate) fn into_text(self) -> String {
        let len = self
            .families
            .iter()
            .map(|b| b.header.len() + b.samples.len())
            .sum();
        let mut out = String::with_capacity(len);
        for block in self.families {
            out.push_str(&block.header);
            out.push_str(&block.samples);
        }
        out
    }
}

/// `line` with `org` as its first label.
fn push_sample(out: &mut String, line: &str, org: Option<&str>) {
    let Some(org) = org else {
        out.push_str(line);
        out.push('\n');
        return;
    };
    let name_end = line.find(['{', ' ']).unwrap_or(line.len());
    let (name, rest) = line.split_at(name_end);
    out.push_str(name);
    out.push('{');
    out.push_str(org);
    match rest.strip_prefix('{') {
        Some(labels) if labels.starts_with('}') => out.push_str(labels),
        Some(labels) => {
            out.push(',');
            out.push_str(labels);
        }
        None => {
            out.push('}');
            out.push_str(rest);
        }
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACME: &str = "# HELP genesys_up Whether the collector is up.\n\
                        # TYPE genesys_up gauge\n\
                        genesys_up{collector=\"queues\"} 1.0\n\
                        # HELP genesys_queues Queues watched.\n\
                        # TYPE genesys_queues gauge\n\
                        genesys_queues 3.0\n\
                        # EOF\n";
    const GLOBEX: &str = "# HELP genesys_up Whether the collector is up.\n\
                          # TYPE genesys_up gauge\n\
                          genesys_up{collector=\"queues\"} 0.0\n\
                          genesys_up{} 0.0\n\
                          # HELP genesys_queues Queues watched.\n\
                          # TYPE genesys_queues gauge\n\
                          genesys_queues 5.0\n";

    #[test]
    fn each_family_is_described_once_with_every_orgs_samples_under_it() {
        let mut merged = Merged::default();
        merged.add(ACME, Some(&Labels::of(&[("org", "acme")])));
        merged.add(GLOBEX, Some(&Labels::of(&[("org", "globex")])));
        assert_eq!(
            merged.into_text(),
            "# HELP genesys_up Whether the collector is up.\n\
             # TYPE genesys_up gauge\n\
             genesys_up{org=\"acme\",collector=\"queues\"} 1.0\n\
             genesys_up{org=\"globex\",collector=\"queues\"} 0.0\n\
             genesys_up{org=\"globex\"} 0.0\n\
             # HELP genesys_queues Queues watched.\n\
             # TYPE genesys_queues gauge\n\
             genesys_queues{org=\"acme\"} 3.0\n\
             genesys_queues{org=\"globex\"} 5.0\n"
        );
    }

    #[test]
    fn text_without_an_org_is_kept_as_it_is() {
        let mut merged = Merged::default();
        merged.add(ACME, None);
        assert_eq!(merged.into_text(), ACME.trim_end_matches("# EOF\n"));
    }
}
