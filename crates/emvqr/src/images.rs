//! QR symbols for payloads: render as PNG or SVG, read back from PNG or JPEG photos.
//!
//! Symbols follow EMVCo 4.12: byte mode only, with ECI 000026 (UTF-8) in front when the
//! payload has characters outside printable ASCII (a Chinese merchant name), so scanners
//! do not guess Shift-JIS or Latin-1. Error correction level M, 4-module quiet zone.

use std::io::Cursor;

use image::imageops::{FilterType, resize};
use image::{DynamicImage, GrayImage, ImageFormat, ImageReader, Limits, Luma};
use qrcode::bits::Bits;
use qrcode::render::svg;
use qrcode::{Color, EcLevel, QrCode, Version};

/// Light border around the symbol, in modules (ISO/IEC 18004 asks for 4).
pub const QUIET_ZONE_MODULES: u32 = 4;
/// Pixels per module in PNGs; 8 keeps a 1000-character SGQR code readable when printed.
pub const PNG_MODULE_PIXELS_DEFAULT: u32 = 8;
/// Larger modules only make files bigger.
pub const PNG_MODULE_PIXELS_MAX: u32 = 64;
/// SVGs are vectors; this only sets the nominal size.
const SVG_SIDE_PIXELS_MIN: u32 = 256;
/// Photos larger than this (per side) are refused before decoding.
pub const DECODE_SIDE_PIXELS_MAX: u32 = 8192;
/// Memory the image decoder may allocate.
pub const DECODE_ALLOC_BYTES_MAX: u64 = 256 * 1024 * 1024;
/// Images up to this side get a second, upscaled attempt (4x the pixels to scan).
pub const RETRY_UPSCALED_SIDE_PIXELS_MAX: u32 = 2048;
/// Symbols read from one image; a photo of a counter rarely shows more than a couple.
pub const DECODE_SYMBOLS_MAX: usize = 16;
/// ISO/IEC 18004 symbol versions 1-40.
const QR_VERSION_MAX: i16 = 40;
/// ECI assignment number for UTF-8.
const ECI_UTF8: u32 = 26;

/// Why a QR symbol could not be made or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    #[error("payload of {bytes} bytes does not fit in a QR symbol at error correction level M")]
    PayloadTooLong { bytes: usize },
    #[error("QR encoder failed: {0}")]
    Encode(String),
    #[error("module size {pixels} px is outside 1..={max}")]
    BadModuleSize { pixels: u32, max: u32 },
    #[error("could not read the image: {0}")]
    Image(#[from] image::ImageError),
    #[error("could not read the image: {0}")]
    Io(#[from] std::io::Error),
    #[error("no QR code found in the image")]
    NoQrCode,
    #[error("found {found} QR code(s) but none could be decoded: {reason}")]
    Undecodable { found: usize, reason: String },
    #[error("QR code content is not UTF-8")]
    NotUtf8,
}

impl ImageError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::PayloadTooLong { .. } => "qr_payload_too_long",
            Self::Encode(_) => "qr_encode_failed",
            Self::BadModuleSize { .. } => "bad_module_size",
            Self::Image(_) | Self::Io(_) => "bad_image",
            Self::NoQrCode => "no_qr_code",
            Self::Undecodable { .. } => "qr_undecodable",
            Self::NotUtf8 => "qr_not_utf8",
        }
    }
}

/// The smallest symbol that holds `payload` in byte mode at level M.
pub fn qr_code(payload: &str) -> Result<QrCode, ImageError> {
    let needs_eci = payload.chars().any(|c| !matches!(c, ' '..='~'));
    for version in 1..=QR_VERSION_MAX {
        let mut bits = Bits::new(Version::Normal(version));
        let pushed = (if needs_eci {
            bits.push_eci_designator(ECI_UTF8)
        } else {
            Ok(())
        })
        .and_then(|()| bits.push_byte_data(payload.as_bytes()))
        .and_then(|()| bits.push_terminator(EcLevel::M));
        match pushed {
            Ok(()) => {
                return QrCode::with_bits(bits, EcLevel::M)
                    .map_err(|error| ImageError::Encode(error.to_string()));
            }
            Err(qrcode::types::QrError::DataTooLong) => continue,
            Err(error) => return Err(ImageError::Encode(error.to_string())),
        }
    }
    Err(ImageError::PayloadTooLong {
        bytes: payload.len(),
    })
}

/// A black-on-white PNG, `module_pixels` per module, with the quiet zone.
pub fn render_png(payload: &str, module_pixels: u32) -> Result<Vec<u8>, ImageError> {
    if !(1..=PNG_MODULE_PIXELS_MAX).contains(&module_pixels) {
        return Err(ImageError::BadModuleSize {
            pixels: module_pixels,
            max: PNG_MODULE_PIXELS_MAX,
        });
    }
    let code = qr_code(payload)?;
    let image = to_gray_image(&code, module_pixels);
    let mut png = Cursor::new(Vec::new());
    DynamicImage::ImageLuma8(image).write_to(&mut png, ImageFormat::Png)?;
    Ok(png.into_inner())
}

fn to_gray_image(code: &QrCode, module_pixels: u32) -> GrayImage {
    let colors = code.to_colors();
    let modules = code.width();
    let quiet = QUIET_ZONE_MODULES as usize;
    // Versions top out at 177 modules, so the side fits u32 many times over.
    let side_modules = u32::try_from(modules + 2 * quiet).unwrap_or(u32::MAX);
    let side = side_modules.saturating_mul(module_pixels);
    GrayImage::from_fn(side, side, |x, y| {
        let (column, row) = ((x / module_pixels) as usize, (y / module_pixels) as usize);
        let inside =
            (quiet..quiet + modules).contains(&column) && (quiet..quiet + modules).contains(&row);
        let dark =
            inside && colors.get((row - quiet) * modules + (column - quiet)) == Some(&Color::Dark);
        Luma([if dark { 0 } else { 255 }])
    })
}

/// An SVG document, at least 256 px wide, with the quiet zone.
pub fn render_svg(payload: &str) -> Result<String, ImageError> {
    let code = qr_code(payload)?;
    Ok(code
        .render::<svg::Color<'_>>()
        .quiet_zone(true)
        .min_dimensions(SVG_SIDE_PIXELS_MIN, SVG_SIDE_PIXELS_MIN)
        .build())
}

/// Every QR code readable in a PNG or JPEG image, as text, in detection order.
pub fn decode_image(bytes: &[u8]) -> Result<Vec<String>, ImageError> {
    let mut reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format()?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(DECODE_SIDE_PIXELS_MAX);
    limits.max_image_height = Some(DECODE_SIDE_PIXELS_MAX);
    limits.max_alloc = Some(DECODE_ALLOC_BYTES_MAX);
    reader.limits(limits);
    let gray = reader.decode()?.to_luma8();
    match decode_gray(&gray) {
        Ok(found) => Ok(found),
        // rqrr misses finder patterns in pixel noise and in modules under ~5 px; a 2x copy
        // smoothed by the triangle filter recovers both (see the degraded-JPEG tests).
        Err(first) if gray.width().max(gray.height()) <= RETRY_UPSCALED_SIDE_PIXELS_MAX => {
            let (width, height) = (gray.width() * 2, gray.height() * 2);
            decode_gray(&resize(&gray, width, height, FilterType::Triangle)).map_err(|_| first)
        }
        Err(first) => Err(first),
    }
}

fn decode_gray(gray: &GrayImage) -> Result<Vec<String>, ImageError> {
    let (width, height) = (gray.width() as usize, gray.height() as usize);
    let pixels = gray.as_raw();
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| {
        pixels.get(y * width + x).copied().unwrap_or(u8::MAX)
    });
    let grids = prepared.detect_grids();
    if grids.is_empty() {
        return Err(ImageError::NoQrCode);
    }
    let mut found = Vec::new();
    let mut last_failure = None;
    for grid in grids.iter().take(DECODE_SYMBOLS_MAX) {
        let mut content = Vec::new();
        match grid.decode_to(&mut content) {
            Ok(_) => found.push(String::from_utf8(content).map_err(|_| ImageError::NotUtf8)?),
            Err(error) => last_failure = Some(error.to_string()),
        }
    }
    if found.is_empty() {
        return Err(ImageError::Undecodable {
            found: grids.len(),
            reason: last_failure.unwrap_or_default(),
        });
    }
    Ok(found)
}
