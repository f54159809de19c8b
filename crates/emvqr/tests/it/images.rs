//! QR symbols: render, then read back, also from a degraded photo.

use cashless_emvqr::images::{
    ImageError, PNG_MODULE_PIXELS_DEFAULT, decode_image, qr_code, render_png, render_svg,
};
use cashless_emvqr::{Amount, CashlessMerchant, CashlessOrder, encode_dynamic, parse};
use image::codecs::jpeg::JpegEncoder;
use image::imageops::{FilterType, resize};
use image::{GrayImage, ImageFormat, Luma};

use crate::fixtures::VALID;

fn chinese_payload() -> String {
    let merchant = CashlessMerchant {
        chinese_name: Some("最佳运输".into()),
        chinese_city: Some("北京".into()),
        store_id: Some("S-01".into()),
        ..CashlessMerchant::new("M-42", "BEST TRANSPORT", "BEIJING", "4111")
    };
    let order = CashlessOrder {
        amount: Amount::parse("23.72").unwrap(),
        reference: "ORD-1".into(),
        terminal: Some("T1".into()),
    };
    encode_dynamic(&merchant, &order).unwrap().payload()
}

#[test]
fn png_round_trip_with_chinese_text() {
    let payload = chinese_payload();
    let png = render_png(&payload, PNG_MODULE_PIXELS_DEFAULT).unwrap();
    assert_eq!(image::guess_format(&png).unwrap(), ImageFormat::Png);
    assert_eq!(decode_image(&png).unwrap(), std::slice::from_ref(&payload));
    let parsed = parse(&payload).unwrap();
    assert_eq!(parsed.language().unwrap().merchant_name, "最佳运输");
}

#[test]
fn png_round_trip_of_the_vectors() {
    for (id, _, payload) in VALID
        .iter()
        .filter(|(id, ..)| ["V01", "V02", "V12"].contains(id))
    {
        let png = render_png(payload, 4).unwrap();
        assert_eq!(decode_image(&png).unwrap(), [payload.to_string()], "{id}");
    }
}

/// A photo-like copy of a rendered PNG: scaled to `percent`, grey noise of ±40, JPEG.
fn degraded_jpeg(png: &[u8], percent: u32) -> Vec<u8> {
    let clean = image::load_from_memory(png).unwrap().to_luma8();
    let side = clean.width() * percent / 100;
    let mut photo: GrayImage = resize(&clean, side, side, FilterType::Triangle);
    // Deterministic noise (a linear congruential generator): ±40 grey levels.
    let mut state: u32 = 0x2545_F491;
    for Luma([value]) in photo.pixels_mut() {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let noise = i16::from((state >> 24) as u8) * 80 / 255 - 40;
        *value = (i16::from(*value) + noise).clamp(0, 255) as u8;
    }
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, 70)
        .encode_image(&photo)
        .unwrap();
    assert_eq!(image::guess_format(&jpeg).unwrap(), ImageFormat::Jpeg);
    jpeg
}

#[test]
fn reads_scaled_noisy_jpegs() {
    let payload = chinese_payload();
    let png = render_png(&payload, PNG_MODULE_PIXELS_DEFAULT).unwrap();
    for percent in [50, 70, 90, 130] {
        let jpeg = degraded_jpeg(&png, percent);
        let found = decode_image(&jpeg).unwrap();
        assert_eq!(found, std::slice::from_ref(&payload), "{percent}%");
    }
}

#[test]
fn svg_has_the_symbol() {
    let svg = render_svg(&chinese_payload()).unwrap();
    assert!(svg.starts_with("<?xml"));
    assert!(svg.contains("<svg"));
    assert!(svg.contains("<path"));
}

#[test]
fn byte_mode_level_m() {
    let code = qr_code(&chinese_payload()).unwrap();
    assert_eq!(code.error_correction_level(), qrcode::EcLevel::M);
}

#[test]
fn errors() {
    let blank = GrayImage::from_pixel(64, 64, Luma([255]));
    let mut png = std::io::Cursor::new(Vec::new());
    blank.write_to(&mut png, ImageFormat::Png).unwrap();
    let error = decode_image(png.get_ref()).unwrap_err();
    assert!(matches!(error, ImageError::NoQrCode));
    assert_eq!(error.code(), "no_qr_code");
    let error = decode_image(b"not an image").unwrap_err();
    assert_eq!(error.code(), "bad_image");
    let error = render_png("x", 0).unwrap_err();
    assert_eq!(error.code(), "bad_module_size");
    let error = render_png(&"x".repeat(3000), 1).unwrap_err();
    assert_eq!(error.code(), "qr_payload_too_long");
}
