//! A writer of the Prometheus text (0.0.4) and OpenMetrics text formats, specialised for the
//! snapshot families: label sets are escaped once and reused by every sample that carries
//! them, values go straight into one byte buffer, and with gzip the buffer is compressed in
//! chunks as it fills, so the uncompressed body never exists whole.
//!
//! The output is byte for byte what prometheus-client writes for the same families (tested
//! below); it exists because that generic encoder costs 2-3x more per series, and the snapshot
//! families are all but a handful of the series.

use std::collections::HashMap;

use bytes::Bytes;
use flate2::{Compress, Crc, FlushCompress, Status};

use super::catalog::{Family, Kind};

const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const TEXT_CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Which exposition format a scraper asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    OpenMetrics,
    Text,
}

impl Format {
    /// Prometheus asks for OpenMetrics first; curl and older tools get the 0.0.4 text format.
    #[must_use]
    pub(crate) fn negotiate(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Text,
        }
    }

    #[must_use]
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Format::Text => TEXT_CONTENT_TYPE,
        }
    }
}

/// What every gzip body starts with (RFC 1952 2.3): deflate, no name, no time, unknown OS.
pub(crate) const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// Raw deflate of one piece of a body, and the CRC-32 of its text.
///
/// flate2's `GzEncoder` writes whole gzip members, and a body of several members, valid as it
/// is (RFC 1952 2.2), is refused by curl (`--compressed` stops with error 23 after the first
/// member; its maintainers keep that an error, curl/curl#12340) and read only in part by
/// Python's urllib3. So a piece is compressed here as deflate blocks that end on a sync flush
/// (byte-aligned, not final), with a compressor of its own, so that it refers to nothing
/// before it: the pieces of a body one after the other are one deflate stream, and the body
/// one gzip member, its header once before them, the last piece finishing the stream and the
/// trailer carrying the CRCs of all the pieces combined.
struct Deflate {
    compress: Compress,
    crc: Crc,
    out: Vec<u8>,
}

impl Deflate {
    fn new(compress: Compress, capacity: usize) -> Deflate {
        Deflate {
            compress,
            crc: Crc::new(),
            out: Vec::with_capacity(capacity.max(1024)),
        }
    }

    fn write(&mut self, text: &[u8]) -> std::io::Result<()> {
        self.crc.update(text);
        self.run(text, FlushCompress::None)
    }

    /// Compresses `input` and, with `Sync` or `Finish`, flushes what the compressor holds.
    ///
    /// Through a small buffer, not into the spare capacity of `out`: flate2's miniz_oxide
    /// backend zeroes all of that spare capacity on every call, and with `out` grown to
    /// megabytes that made a 5,000-queue body quadratic (2.6 s instead of about 0.4).
    fn run(&mut self, mut input: &[u8], flush: FlushCompress) -> std::io::Result<()> {
        let mut scratch = [0u8; 32 * 1024];
        loop {
            let (before_in, before_out) = (self.compress.total_in(), self.compress.total_out());
            let status = self
                .compress
                .compress(input, &mut scratch, flush)
                .map_err(std::io::Error::other)?;
            let used = usize::try_from(self.compress.total_in() - before_in).unwrap_or(usize::MAX);
            let wrote = usize::try_from(self.compress.total_out() - before_out)
                .unwrap_or(usize::MAX)
                .min(scratch.len());
            self.out.extend_from_slice(&scratch[..wrote]);
            input = input.get(used..).unwrap_or_default();
            // Room left in the buffer: the compressor had nothing more to write.
            let drained = wrote < scratch.len();
            match flush {
                _ if status == Status::StreamEnd => return Ok(()),
                FlushCompress::None if input.is_empty() => return Ok(()),
                FlushCompress::Sync if input.is_empty() && drained => return Ok(()),
                _ => {}
            }
        }
    }
}

/// The gzip trailer (RFC 1952 2.3.1): CRC-32 and length modulo 2^32, little-endian.
fn trailer(out: &mut Vec<u8>, crc: &Crc) {
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&crc.amount().to_le_bytes());
}

/// Compressed in pieces of this size: large enough for the compressor to work well, small
/// enough that the uncompressed text is never held in memory beyond it.
const GZIP_CHUNK: usize = 64 * 1024;

/// Below this, dtoa writes whole numbers in positional notation (it switches to exponents at
/// 1e16), so integer formatting gives the same text.
const INTEGRAL_BELOW: f64 = 1e15;

/// Label pairs, escaped and joined once (`a="x",b="y"`), to be written by many samples.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Labels(String);

impl Labels {
    #[must_use]
    pub(crate) fn new() -> Labels {
        Labels(String::new())
    }

    #[must_use]
    pub(crate) fn of(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .fold(Labels::new(), |labels, (k, v)| labels.with(k, v))
    }

    /// Adds a pair. Names are the exporter's own constants; only values are escaped.
    #[must_use]
    pub(crate) fn with(mut self, name: &str, value: &str) -> Labels {
        if !self.0.is_empty() {
            self.0.push(',');
        }
        self.0.push_str(name);
        self.0.push_str("=\"");
        escape_into(&mut self.0, value, false);
        self.0.push('"');
        self
    }

    /// The escaped pairs as they appear between the braces.
    #[must_use]
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// These pairs followed by `more`'s.
    #[must_use]
    pub(crate) fn join(&self, more: &Labels) -> Labels {
        match (self.0.is_empty(), more.0.is_empty()) {
            (_, true) => self.clone(),
            (true, false) => more.clone(),
            (false, false) => Labels(format!("{},{}", self.0, more.0)),
        }
    }
}

/// Backslash, newline and double quote escaped as both formats require in label values and
/// (OpenMetrics) in help texts; the text format's help leaves quotes as they are.
fn escape_into(out: &mut String, s: &str, keep_quotes: bool) {
    if !s.bytes().any(|b| matches!(b, b'\\' | b'\n' | b'"')) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if !keep_quotes => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// A histogram line's value: counts are whole numbers without a fraction, as
/// prometheus-client writes them; the sum is a float like any sample's.
enum Number {
    Whole(u64),
    Float(f64),
}

/// A sample value as dtoa writes it ("3.0", "0.25", "+Inf").
fn push_value(text: &mut Vec<u8>, value: f64) {
    if value.is_sign_positive() && value < INTEGRAL_BELOW && value.fract() == 0.0 {
        // Exact: a whole, non-negative number below 10^15 fits a u64 without loss.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let whole = value as u64;
        // Counts, the bulk of the values: integer formatting is several times cheaper
        // and spells them as dtoa does ("3.0").
        text.extend_from_slice(itoa::Buffer::new().format(whole).as_bytes());
        text.extend_from_slice(b".0");
    } else if value.is_finite() {
        text.extend_from_slice(dtoa::Buffer::new().format_finite(value).as_bytes());
    } else {
        let word = if value.is_nan() {
            "NaN"
        } else if value > 0.0 {
            "+Inf"
        } else {
            "-Inf"
        };
        text.extend_from_slice(word.as_bytes());
    }
}

/// A bucket bound as Go's clients (and prometheus-client's text format) spell `le`: whole
/// numbers below 10^6 without a fraction ("20"), others in their shortest form ("0.5").
/// The bounds this exporter writes are whole milliseconds in seconds, below 10^6 s; beyond
/// that Go switches to exponents, which Rust spells differently, so they are refused by
/// the flags that set them.
fn go_float(out: &mut String, v: f64) {
    use std::fmt::Write as _;
    if v.fract() == 0.0 && v.abs() < 1e6 {
        #[allow(clippy::cast_possible_truncation)]
        out.push_str(itoa::Buffer::new().format(v as i64));
    } else {
        let _ = write!(out, "{v}");
    }
}

/// A piece written: its bytes, with gzip the CRC of its text, and the compressor, reset, for
/// the next piece.
pub(crate) struct Finished {
    pub(crate) bytes: Bytes,
    pub(crate) crc: Option<Crc>,
    pub(crate) compress: Option<Compress>,
}

/// One body being written: families in order, each a descriptor then its samples.
pub struct Exposition {
    format: Format,
    text: Vec<u8>,
    gzip: Option<Deflate>,
    /// The sample name of the family being written (`_total` appended for counters).
    name: String,
    samples: u64,
    /// Uncompressed bytes already handed to the compressor.
    spilled: usize,
}

impl Exposition {
    /// `buffer` is memory to write into (its contents are dropped); `expected` is the length
    /// of the last uncompressed body, to which a smaller buffer is grown (plus some slack) so
    /// that it grows once or not at all.
    #[must_use]
    pub(crate) fn new(
        format: Format,
        gzip: Option<flate2::Compression>,
        buffer: Vec<u8>,
        expected: usize,
    ) -> Exposition {
        let compress = gzip.map(|level| Compress::new(level, false));
        Exposition::compressing(format, compress, buffer, expected)
    }

    /// As [`Exposition::new`], compressed (when `compress` is given) by a raw-deflate
    /// compressor made or reset for it: a piece of a body reuses the one the piece before it
    /// used, since a new one costs a quarter of a megabyte of fresh memory.
    #[must_use]
    pub(crate) fn compressing(
        format: Format,
        compress: Option<Compress>,
        mut buffer: Vec<u8>,
        expected: usize,
    ) -> Exposition {
        buffer.clear();
        let gzip = compress.map(|compress| {
            buffer.reserve(GZIP_CHUNK * 2);
            Deflate::new(compress, expected / 8)
        });
        // A reused buffer that held the last body is big enough as a rule; growing it here
        // for the slack alone would move it to fresh memory, which is what reuse avoids.
        if gzip.is_none() && buffer.capacity() < expected {
            buffer.reserve_exact(expected + expected / 16);
        }
        Exposition {
            format,
            text: buffer,
            gzip,
            name: String::new(),
            samples: 0,
            spilled: 0,
        }
    }

    /// Starts a family of the catalog.
    ///
    /// # Errors
    /// When compressing the body fails.
    pub(crate) fn begin(&mut self, family: &Family) -> std::io::Result<()> {
        self.family(family.name, family.help, family.kind)
    }

    /// Continues a family an earlier piece of the body began (its descriptor is written
    /// there): the samples that follow are this family's.
    pub(crate) fn resume(&mut self, family: &Family) {
        self.name.clear();
        self.name.push_str(family.name);
        if family.kind == Kind::Counter {
            self.name.push_str("_total");
        }
    }

    /// Starts a family; counter names are given without `_total`, which is appended to the
    /// samples (and, in the text format, to the descriptor too).
    fn family(&mut self, name: &str, help: &str, kind: Kind) -> std::io::Result<()> {
        self.name.clear();
        self.name.push_str(name);
        if kind == Kind::Counter {
            self.name.push_str("_total");
        }
        let described = match self.format {
            Format::OpenMetrics => name,
            Format::Text => &self.name,
        };
        let mut help_text = String::with_capacity(help.len());
        escape_into(&mut help_text, help, self.format == Format::Text);
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        let header = format!("# HELP {described} {help_text}\n# TYPE {described} {kind}\n");
        self.text.extend_from_slice(header.as_bytes());
        self.spill()
    }

    /// One sample of the current family with the given label sets, in order.
    ///
    /// # Errors
    /// When compressing the body fails.
    pub(crate) fn sample(&mut self, labels: &[&Labels], value: f64) -> std::io::Result<()> {
        self.text.extend_from_slice(self.name.as_bytes());
        self.labels(labels, None);
        push_value(&mut self.text, value);
        self.text.push(b'\n');
        self.samples += 1;
        self.spill()
    }

    /// One histogram of the current family (a [`Kind::Histogram`]) with the given label sets:
    /// `buckets` are (upper bound, cumulative count) with finite, increasing bounds; the
    /// `+Inf` bucket is `count`. Written as prometheus-client writes one in each format:
    /// buckets, `_sum`, `_count` in the text format, `le` spelled as Go's clients do ("20");
    /// `_sum`, `_count`, buckets in OpenMetrics, `le` a float ("20.0").
    ///
    /// # Errors
    /// When compressing the body fails.
    pub(crate) fn histogram(
        &mut self,
        labels: &[&Labels],
        buckets: &[(f64, u64)],
        sum: f64,
        count: u64,
    ) -> std::io::Result<()> {
        if self.format == Format::OpenMetrics {
            self.histogram_line("_sum", labels, None, Number::Float(sum));
            self.histogram_line("_count", labels, None, Number::Whole(count));
        }
        let mut le = String::new();
        for &(bound, n) in buckets {
            le.clear();
            match self.format {
                Format::OpenMetrics => le.push_str(dtoa::Buffer::new().format(bound)),
                Format::Text => go_float(&mut le, bound),
            }
            self.histogram_line("_bucket", labels, Some(&le), Number::Whole(n));
        }
        self.histogram_line("_bucket", labels, Some("+Inf"), Number::Whole(count));
        if self.format == Format::Text {
            self.histogram_line("_sum", labels, None, Number::Float(sum));
            self.histogram_line("_count", labels, None, Number::Whole(count));
        }
        self.spill()
    }

    fn histogram_line(
        &mut self,
        suffix: &str,
        labels: &[&Labels],
        le: Option<&str>,
        value: Number,
    ) {
        self.text.extend_from_slice(self.name.as_bytes());
        self.text.extend_from_slice(suffix.as_bytes());
        self.labels(labels, le);
        match value {
            Number::Whole(n) => self
                .text
                .extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
            Number::Float(x) => push_value(&mut self.text, x),
        }
        self.text.push(b'\n');
        self.samples += 1;
    }

    /// `{a="x",b="y",le="20"} ` (nothing but the space when there are no labels). `le` goes
    /// last in the text format and first in OpenMetrics, as prometheus-client puts it.
    fn labels(&mut self, labels: &[&Labels], le: Option<&str>) {
        let mut open = false;
        let mut pair = |text: &mut Vec<u8>, pair: &[u8]| {
            text.push(if open { b',' } else { b'{' });
            text.extend_from_slice(pair);
            open = true;
        };
        let le = le.map(|le| format!("le=\"{le}\""));
        if let (Some(le), Format::OpenMetrics) = (&le, self.format) {
            pair(&mut self.text, le.as_bytes());
        }
        for set in labels.iter().filter(|l| !l.0.is_empty()) {
            pair(&mut self.text, set.0.as_bytes());
        }
        if let (Some(le), Format::Text) = (&le, self.format) {
            pair(&mut self.text, le.as_bytes());
        }
        if open {
            self.text.push(b'}');
        }
        self.text.push(b' ');
    }

    /// Exposition text from elsewhere (the registry of self-metrics), taken as it is.
    ///
    /// # Errors
    /// When compressing the body fails.
    pub(crate) fn raw(&mut self, text: &str) -> std::io::Result<()> {
        self.samples += text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .count() as u64;
        self.text.extend_from_slice(text.as_bytes());
        self.spill()
    }

    /// Samples written so far.
    #[must_use]
    pub(crate) fn samples(&self) -> u64 {
        self.samples
    }

    /// Uncompressed length so far.
    #[must_use]
    pub(crate) fn text_len(&self) -> usize {
        self.spilled + self.text.len()
    }

    /// The body, whole, ended as the format requires: with gzip, a complete gzip stream.
    ///
    /// # Errors
    /// When compressing the body fails.
    pub(crate) fn finish(mut self) -> std::io::Result<Bytes> {
        self.end();
        match self.gzip.take() {
            None => Ok(Bytes::from(self.text)),
            Some(mut gz) => {
                gz.write(&self.text)?;
                gz.run(&[], FlushCompress::Finish)?;
                let mut out = Vec::with_capacity(GZIP_HEADER.len() + gz.out.len() + 8);
                out.extend_from_slice(&GZIP_HEADER);
                out.extend_from_slice(&gz.out);
                trailer(&mut out, &gz.crc);
                Ok(Bytes::from(out))
            }
        }
    }

    /// A piece of a body, not its end (no `# EOF`): with gzip, deflate blocks that end on a
    /// sync flush, and the CRC of its text, to go between [`GZIP_HEADER`] and the last
    /// piece ([`Exposition::finish_last`]).
    ///
    /// # Errors
    /// When compressing fails.
    pub(crate) fn finish_piece(mut self) -> std::io::Result<Finished> {
        match self.gzip.take() {
            None => Ok(Finished {
                bytes: Bytes::from(self.text),
                crc: None,
                compress: None,
            }),
            Some(mut gz) => {
                gz.write(&self.text)?;
                gz.run(&[], FlushCompress::Sync)?;
                let mut compress = gz.compress;
                compress.reset();
                Ok(Finished {
                    bytes: Bytes::from(gz.out),
                    crc: Some(gz.crc),
                    compress: Some(compress),
                })
            }
        }
    }

    /// The last piece of a body, ended as the format requires: with gzip, the end of the
    /// deflate stream and the trailer, whose CRC is `before` (the CRC of every piece before
    /// this one, combined) with this one's.
    ///
    /// # Errors
    /// When compressing fails.
    pub(crate) fn finish_last(mut self, before: Crc) -> std::io::Result<Bytes> {
        self.end();
        match self.gzip.take() {
            None => Ok(Bytes::from(self.text)),
            Some(mut gz) => {
                gz.write(&self.text)?;
                gz.run(&[], FlushCompress::Finish)?;
                let mut crc = before;
                crc.combine(&gz.crc);
                trailer(&mut gz.out, &crc);
                Ok(Bytes::from(gz.out))
            }
        }
    }

    /// The end the format requires.
    fn end(&mut self) {
        if self.format == Format::OpenMetrics {
            self.text.extend_from_slice(b"# EOF\n");
        }
    }

    /// Hands a full chunk to the compressor.
    fn spill(&mut self) -> std::io::Result<()> {
        if let Some(gz) = &mut self.gzip {
            if self.text.len() >= GZIP_CHUNK {
                gz.write(&self.text)?;
                self.spilled += self.text.len();
                self.text.clear();
            }
        }
        Ok(())
    }
}

/// One family: its descriptor, then a sample per row.
pub(crate) fn rows<I>(e: &mut Exposition, family: &Family, rows: I) -> std::io::Result<()>
where
    I: IntoIterator<Item = (Labels, f64)>,
{
    e.begin(family)?;
    for (labels, value) in rows {
        e.sample(&[&labels], value)?;
    }
    Ok(())
}

/// Escaped `name="value"` sets for the few values a label takes (media types, states,
/// windows), built once per scrape instead of once per sample.
pub(crate) struct Memo<'a> {
    name: &'static str,
    sets: HashMap<&'a str, Labels>,
}

impl<'a> Memo<'a> {
    pub(crate) fn new(name: &'static str) -> Memo<'a> {
        Memo {
            name,
            sets: HashMap::new(),
        }
    }

    pub(crate) fn get(&mut self, value: &'a str) -> &Labels {
        let name = self.name;
        self.sets
            .entry(value)
            .or_insert_with(|| Labels::new().with(name, value))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use prometheus_client::collector::Collector;
    use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
    use prometheus_client::metrics::MetricType;
    use prometheus_client::registry::Registry;

    use super::*;

    type Family = (
        &'static str,
        &'static str,
        Kind,
        Vec<(Vec<(&'static str, String)>, f64)>,
    );

    /// Families with what an org can throw at label values (quotes, backslashes, newlines,
    /// non-ASCII) and every shape of value the snapshots hold.
    fn families() -> Vec<Family> {
        let names = [
            "Support \"EN\"",
            "C:\\queues\\billing",
            "two\nlines",
            "Ventes – Île-de-France ☎",
            "",
        ];
        let values = [
            0.0,
            -0.0,
            1.0,
            12.5,
            1e-7,
            123456789.0,
            0.1 + 0.2,
            3e21,
            -4.0,
            1e15 - 1.0,
            1e15,
            1e16,
            9_007_199_254_740_993.0,
        ];
        let rows = |extra: bool| {
            names
                .iter()
                .enumerate()
                .flat_map(|(i, n)| {
                    values.iter().map(move |v| {
                        let mut labels =
                            vec![("queue_id", format!("id-{i}")), ("queue", n.to_string())];
                        if extra {
                            labels.push(("window", "15m".to_string()));
                        }
                        (labels, *v)
                    })
                })
                .collect::<Vec<_>>()
        };
        vec![
            (
                "genesys_plain",
                "A gauge without labels.",
                Kind::Gauge,
                vec![(vec![], 7.0)],
            ),
            (
                "genesys_things",
                "Counted things (nThings).",
                Kind::Counter,
                rows(false),
            ),
            (
                "genesys_window_things",
                "Things over the window: 15m, 1h, today.",
                Kind::Gauge,
                rows(true),
            ),
            (
                "genesys_empty",
                "A family without samples.",
                Kind::Gauge,
                vec![],
            ),
        ]
    }

    #[derive(Debug)]
    struct Reference(Vec<Family>);

    impl Collector for Reference {
        fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
            for (name, help, kind, rows) in &self.0 {
                let kind = match kind {
                    Kind::Counter => MetricType::Counter,
                    Kind::Gauge => MetricType::Gauge,
                    Kind::Histogram => MetricType::Histogram,
                };
                let mut family = encoder.encode_descriptor(name, help, None, kind)?;
                for (labels, value) in rows {
                    let labels: Vec<(&str, &str)> =
                        labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    let mut sample = family.encode_family(&labels)?;
                    match kind {
                        MetricType::Counter => {
                            sample.encode_counter::<NoLabelSet, _, u64>(value, None)?
                        }
                        _ => sample.encode_gauge(value)?,
                    }
                }
            }
            Ok(())
        }
    }

    fn reference(format: Format) -> String {
        reference_of(format, families())
    }

    fn reference_of(format: Format, families: Vec<Family>) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Reference(families)));
        let mut out = String::new();
        match format {
            Format::OpenMetrics => {
                prometheus_client::encoding::text::encode(&mut out, &registry).unwrap()
            }
            Format::Text => {
                prometheus_client::encoding::prometheus_text::encode(&mut out, &registry).unwrap()
            }
        }
        out
    }

    fn ours(format: Format, gzip: Option<flate2::Compression>) -> (Bytes, u64) {
        let mut e = Exposition::new(format, gzip, Vec::new(), 0);
        for (name, help, kind, rows) in families() {
            e.family(name, help, kind).unwrap();
            for (labels, value) in rows {
                let pairs: Vec<(&str, &str)> =
                    labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
                // Split in two sets as the snapshot families do (queue, then per-sample).
                let (first, rest) = pairs.split_at(pairs.len().min(1));
                e.sample(&[&Labels::of(first), &Labels::of(rest)], value)
                    .unwrap();
            }
        }
        let samples = e.samples();
        (e.finish().unwrap(), samples)
    }

    #[test]
    fn writes_what_prometheus_client_writes() {
        for format in [Format::Text, Format::OpenMetrics] {
            let (body, samples) = ours(format, None);
            let expected = reference(format);
            assert_eq!(String::from_utf8_lossy(&body), expected, "{format:?}");
            let lines = expected.lines().filter(|l| !l.starts_with('#')).count();
            assert_eq!(samples, lines as u64);
        }
    }

    /// Histograms per label set: (labels, cumulative buckets, sum, count).
    type HistogramRows = Vec<(Vec<(&'static str, &'static str)>, Vec<(f64, u64)>, f64, u64)>;

    fn histogram_rows() -> HistogramRows {
        vec![
            (
                vec![("queue", "Sales \"EU\""), ("media_type", "voice")],
                vec![(0.5, 1), (20.0, 3), (30.0, 3), (1200.0, 7)],
                412.25,
                9,
            ),
            (
                vec![("queue", "Idle"), ("media_type", "chat")],
                vec![(0.5, 0), (20.0, 0), (30.0, 0), (1200.0, 0)],
                0.0,
                0,
            ),
        ]
    }

    #[derive(Debug)]
    struct HistogramReference(HistogramRows);

    impl Collector for HistogramReference {
        fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
            let mut family = encoder.encode_descriptor(
                "genesys_wait_seconds",
                "Waits.",
                None,
                MetricType::Histogram,
            )?;
            for (labels, buckets, sum, count) in &self.0 {
                // prometheus-client takes each bucket's own count, +Inf included.
                let mut own = Vec::new();
                let mut below = 0;
                for &(bound, cumulative) in buckets.iter().chain([&(f64::INFINITY, *count)]) {
                    own.push((bound, cumulative - below));
                    below = cumulative;
                }
                family
                    .encode_family(labels)?
                    .encode_histogram::<NoLabelSet>(*sum, *count, &own, None)?;
            }
            Ok(())
        }
    }

    #[test]
    fn histograms_are_written_as_prometheus_client_writes_them() {
        for format in [Format::Text, Format::OpenMetrics] {
            let mut registry = Registry::default();
            registry.register_collector(Box::new(HistogramReference(histogram_rows())));
            let mut expected = String::new();
            match format {
                Format::OpenMetrics => {
                    prometheus_client::encoding::text::encode(&mut expected, &registry).unwrap()
                }
                Format::Text => {
                    prometheus_client::encoding::prometheus_text::encode(&mut expected, &registry)
                        .unwrap()
                }
            }
            let mut e = Exposition::new(format, None, Vec::new(), 0);
            e.family("genesys_wait_seconds", "Waits.", Kind::Histogram)
                .unwrap();
            for (labels, buckets, sum, count) in histogram_rows() {
                let (first, rest) = labels.split_at(1);
                e.histogram(
                    &[&Labels::of(first), &Labels::of(rest)],
                    &buckets,
                    sum,
                    count,
                )
                .unwrap();
            }
            let samples = e.samples();
            let body = e.finish().unwrap();
            assert_eq!(String::from_utf8_lossy(&body), expected, "{format:?}");
            let lines = expected.lines().filter(|l| !l.starts_with('#')).count();
            assert_eq!(samples, lines as u64, "every line is a sample");
        }
    }

    #[test]
    fn gzip_streams_decompress_to_the_plain_body() {
        for format in [Format::Text, Format::OpenMetrics] {
            let (plain, _) = ours(format, None);
            let (zipped, _) = ours(format, Some(flate2::Compression::fast()));
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&zipped[..])
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, plain.to_vec());
        }
    }

    #[test]
    fn help_is_escaped_as_each_format_requires() {
        let help = "a \"quoted\" C:\\path\nand more";
        for (format, expected) in [
            (
                Format::Text,
                "# HELP x a \"quoted\" C:\\\\path\\nand more\n",
            ),
            (
                Format::OpenMetrics,
                "# HELP x a \\\"quoted\\\" C:\\\\path\\nand more\n",
            ),
        ] {
            let mut e = Exposition::new(format, None, Vec::new(), 0);
            e.family("x", help, Kind::Gauge).unwrap();
            let body = e.finish().unwrap();
            assert!(
                String::from_utf8_lossy(&body).starts_with(expected),
                "{format:?}"
            );
        }
    }

    #[test]
    fn non_finite_values_use_the_formats_spelling() {
        let mut e = Exposition::new(Format::Text, None, Vec::new(), 0);
        e.family("x", "h", Kind::Gauge).unwrap();
        for v in [f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
            e.sample(&[], v).unwrap();
        }
        let body = e.finish().unwrap();
        assert!(String::from_utf8_lossy(&body).ends_with("x +Inf\nx -Inf\nx NaN\n"));
    }

    use proptest::strategy::Strategy;

    proptest::proptest! {
        #[test]
        fn any_value_and_label_value_match_prometheus_client(
            value in proptest::prop_oneof![
                proptest::num::f64::ANY,
                // Whole numbers, the fast path, up to and past where it stops.
                (0u64..(1 << 55)).prop_map(|v| v as f64),
                (0u64..100_000).prop_map(|v| v as f64),
            ],
            label in ".*",
            counter: bool,
        ) {
            let kind = if counter { Kind::Counter } else { Kind::Gauge };
            for format in [Format::Text, Format::OpenMetrics] {
                // prometheus-client spells non-finite values its own way in OpenMetrics
                // ("inf"); the spec's spelling is tested above.
                if !value.is_finite() {
                    continue;
                }
                let family = ("x", "h", kind, vec![(vec![("l", label.clone())], value)]);
                let expected = reference_of(format, vec![family]);
                let mut e = Exposition::new(format, None, Vec::new(), 0);
                e.family("x", "h", kind).unwrap();
                e.sample(&[&Labels::new().with("l", &label)], value).unwrap();
                let body = e.finish().unwrap();
                proptest::prop_assert_eq!(String::from_utf8_lossy(&body), expected);
            }
        }
    }
}
