//! DATEX II v2 (namespace `http://datex2.eu/schema/2/2_0`), the two publications NDW's open
//! data serves, read as a stream (NDW's files are tens of megabytes): the
//! `MeasurementSiteTablePublication` (each site's measured values by index: lane, flow or
//! speed, vehicle class; its coordinates) and the `MeasuredDataPublication` (per site and
//! minute, the value of each index). Elements are matched by local name, namespaces and
//! SOAP envelopes ignored.

use std::collections::HashMap;
use std::io::BufRead;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::reading::{rfc3339_ms, ParseError};

/// What one index of a site measures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Characteristic {
    /// `lane1`, `lane2`, … (or `allLanesCompleteCarriageway`).
    pub lane: Option<String>,
    /// `trafficFlow` or `trafficSpeed`.
    pub value_type: Option<String>,
    /// Restricted to a vehicle class (a length class or a vehicle type other than
    /// `anyVehicle`): not the lane's total.
    pub class: bool,
    /// Measurement period in seconds.
    pub period_s: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Site {
    pub indexes: HashMap<u32, Characteristic>,
    /// `(lat, lon)` of the site.
    pub point: Option<(f64, f64)>,
}

/// One measured value: the flow rate (vehicles/hour) or the speed (km/h; NDW writes -1 for
/// "no vehicle measured").
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    FlowRate(f64),
    Speed(f64),
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SiteMeasurements {
    pub site: String,
    pub ts: i64,
    pub values: Vec<(u32, Value)>,
}

fn attr(e: &BytesStart<'_>, name: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == name)
        .and_then(|a| {
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .ok()
                .map(|v| v.into_owned())
        })
}

fn xml_error(e: impl std::fmt::Display, at: u64) -> ParseError {
    ParseError::new(format!("DATEX II: {e} (byte {at})"))
}

/// What a walk over a document does at each start tag, text and end tag.
trait Handler {
    fn start(&mut self, name: &[u8], e: &BytesStart<'_>);
    fn text(&mut self, name: &[u8], text: &str, path: &[Vec<u8>]) -> Result<(), ParseError>;
    fn end(&mut self, name: &[u8]) -> Result<(), ParseError>;
}

/// Walks a document; `path` holds the enclosing elements' names.
fn walk<R: BufRead>(input: R, h: &mut impl Handler) -> Result<(), ParseError> {
    let mut reader = Reader::from_reader(input);
    reader.config_mut().trim_text(true);
    let mut buf = Vec::new();
    let mut path: Vec<Vec<u8>> = Vec::new();
    let mut seen_root = false;
    loop {
        let at = reader.buffer_position();
        match reader
            .read_event_into(&mut buf)
            .map_err(|e| xml_error(e, at))?
        {
            Event::Start(e) => {
                seen_root = true;
                let name = e.local_name().as_ref().to_vec();
                h.start(&name, &e);
                path.push(name);
            }
            Event::Empty(e) => {
                seen_root = true;
                let name = e.local_name().as_ref().to_vec();
                h.start(&name, &e);
                h.end(&name)?;
            }
            Event::Text(t) => {
                let s = t.decode().map_err(|e| xml_error(e, at))?;
                if let Some(name) = path.last() {
                    h.text(name, &s, &path)?;
                }
            }
            Event::End(_) => {
                if let Some(name) = path.pop() {
                    h.end(&name)?;
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !seen_root || !path.is_empty() {
        return Err(ParseError::new(
            "DATEX II: the document ends before its last element closes",
        ));
    }
    Ok(())
}

fn number(text: &str, what: &str) -> Result<f64, ParseError> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| ParseError::new(format!("DATEX II: {what} {text:?} is not a number")))
}

#[derive(Default)]
struct TableReader {
    sites: HashMap<String, Site>,
    current: Option<(String, Site)>,
    index: Option<u32>,
    lat: Option<f64>,
}

impl TableReader {
    fn characteristic(&mut self) -> Option<&mut Characteristic> {
        let (Some((_, site)), Some(i)) = (self.current.as_mut(), self.index) else {
            return None;
        };
        Some(site.indexes.entry(i).or_default())
    }
}

impl Handler for TableReader {
    fn start(&mut self, name: &[u8], e: &BytesStart<'_>) {
        match name {
            b"measurementSiteRecord" => {
                self.current = attr(e, b"id").map(|id| (id, Site::default()));
                self.index = None;
                self.lat = None;
            }
            b"measurementSpecificCharacteristics" => {
                if let Some(i) = attr(e, b"index").and_then(|i| i.parse().ok()) {
                    self.index = Some(i);
                }
            }
            b"lengthCharacteristic" => {
                if let Some(c) = self.characteristic() {
                    c.class = true;
                }
            }
            _ => {}
        }
    }

    fn text(&mut self, name: &[u8], text: &str, path: &[Vec<u8>]) -> Result<(), ParseError> {
        if path.iter().any(|p| p == b"measurementSiteLocation") {
            let Some((_, site)) = self.current.as_mut() else {
                return Ok(());
            };
            match name {
                b"latitude" if site.point.is_none() => self.lat = Some(number(text, "latitude")?),
                b"longitude" if site.point.is_none() => {
                    if let Some(lat) = self.lat {
                        site.point = Some((lat, number(text, "longitude")?));
                    }
                }
                _ => {}
            }
            return Ok(());
        }
        let Some(c) = self.characteristic() else {
            return Ok(());
        };
        match name {
            b"specificLane" => c.lane = Some(text.to_string()),
            b"specificMeasurementValueType" => c.value_type = Some(text.to_string()),
            b"vehicleType" if text != "anyVehicle" => c.class = true,
            b"period" => c.period_s = Some(number(text, "period")?),
            _ => {}
        }
        Ok(())
    }

    fn end(&mut self, name: &[u8]) -> Result<(), ParseError> {
        if name == b"measurementSiteRecord" {
            if let Some((id, site)) = self.current.take() {
                self.sites.insert(id, site);
            }
        }
        Ok(())
    }
}

/// The site table: site id → what its indexes measure and where it is.
pub fn site_table<R: BufRead>(input: R) -> Result<HashMap<String, Site>, ParseError> {
    let mut t = TableReader::default();
    walk(input, &mut t)?;
    Ok(t.sites)
}

struct DataReader<F> {
    f: F,
    current: Option<SiteMeasurements>,
    index: Option<u32>,
    kind: Option<String>,
}

impl<F: FnMut(SiteMeasurements)> Handler for DataReader<F> {
    fn start(&mut self, name: &[u8], e: &BytesStart<'_>) {
        match name {
            b"siteMeasurements" => {
                self.current = Some(SiteMeasurements {
                    site: String::new(),
                    ts: i64::MIN,
                    values: Vec::new(),
                });
                self.index = None;
            }
            b"measurementSiteReference" => {
                if let (Some(m), Some(id)) = (self.current.as_mut(), attr(e, b"id")) {
                    m.site = id;
                }
            }
            b"measuredValue" => {
                if let Some(i) = attr(e, b"index").and_then(|i| i.parse().ok()) {
                    self.index = Some(i);
                }
            }
            b"basicData" => self.kind = attr(e, b"type"),
            _ => {}
        }
    }

    fn text(&mut self, name: &[u8], text: &str, _: &[Vec<u8>]) -> Result<(), ParseError> {
        let Some(m) = self.current.as_mut() else {
            return Ok(());
        };
        let kind = self.kind.as_deref();
        match (name, self.index) {
            (b"measurementTimeDefault", _) => m.ts = rfc3339_ms(text)?,
            (b"vehicleFlowRate", Some(i)) if kind == Some("TrafficFlow") => m
                .values
                .push((i, Value::FlowRate(number(text, "vehicleFlowRate")?))),
            (b"speed", Some(i)) if kind == Some("TrafficSpeed") => {
                m.values.push((i, Value::Speed(number(text, "speed")?)))
            }
            (b"dataError", Some(i)) if text == "true" => m.values.push((i, Value::Error)),
            _ => {}
        }
        Ok(())
    }

    fn end(&mut self, name: &[u8]) -> Result<(), ParseError> {
        if name == b"siteMeasurements" {
            if let Some(m) = self.current.take() {
                if m.site.is_empty() || m.ts == i64::MIN {
                    return Err(ParseError::new(
                        "DATEX II: siteMeasurements without a site reference or time",
                    ));
                }
                (self.f)(m);
            }
        }
        Ok(())
    }
}

/// Every site's measurements of a `MeasuredDataPublication`, handed to `f` one at a time.
pub fn measurements<R: BufRead>(
    input: R,
    f: impl FnMut(SiteMeasurements),
) -> Result<(), ParseError> {
    let mut r = DataReader {
        f,
        current: None,
        index: None,
        kind: None,
    };
    walk(input, &mut r)
}
