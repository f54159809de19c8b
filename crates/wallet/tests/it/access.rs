//! Who the consumer is: sign-in by SMS code, real name, the PIN, linked cards.

use cashless_kernel::ErrorKind;
use cashless_testkit::people::{ICBC, card, phone, resident_id};
use cashless_testkit::wallet::{PIN, phone_device};
use cashless_testkit::{TestDb, both_backends};
use cashless_wallet::identity::IdentityInput;
use cashless_wallet::ids::{BindingId, CardId};
use cashless_wallet::pin::PinProof;

use crate::{Harness, code, refused};

/// `code` with its last digit changed: a wrong code of the right shape.
fn wrong(code: &str) -> String {
    let (head, last) = code.split_at(code.len() - 1);
    let digit = (last.parse::<u8>().unwrap() + 1) % 10;
    format!("{head}{digit}")
}

async fn a_sign_in_code_is_refused_when_wrong_and_works_once(db: TestDb) {
    let harness = Harness::new(db).await;
    let (wallet, sms) = (harness.wallet(), &harness.kit.sms);
    let phone = phone();
    wallet.send_sign_in_code(&phone).await.unwrap();
    let sent = sms.newest_code_to(&phone).unwrap();

    let error = refused(
        wallet
            .sign_in(&phone, &wrong(&sent), phone_device(None))
            .await,
    );
    assert_eq!(error.code, "sms_code_invalid");
    assert_eq!(error.details.unwrap()["attempts_left"], 4);
    let first = wallet
        .sign_in(&phone, &sent, phone_device(None))
        .await
        .unwrap();
    assert!(first.new_user);
    assert_eq!(first.kyc_level, "L0");
    let session = wallet.authenticate(&first.token).await.unwrap();
    assert_eq!(session.user_id, first.user_id);
    // The code is spent.
    let again = wallet.sign_in(&phone, &sent, phone_device(None)).await;
    assert_eq!(code(again), "sms_code_used");

    // A new code signs the same person in on a second device.
    wallet.send_sign_in_code(&phone).await.unwrap();
    let sent = sms.newest_code_to(&phone).unwrap();
    let second = wallet
        .sign_in(&phone, &sent, phone_device(None))
        .await
        .unwrap();
    assert!(!second.new_user);
    assert_eq!(second.user_id, first.user_id);
    assert_ne!(second.device_id, first.device_id);
    assert_eq!(wallet.devices(&session).await.unwrap().len(), 2);
    assert_eq!(harness.rows_of("devices", &first.user_id).await, 2);

    // Five wrong codes use the code up: the right one no longer works.
    wallet.send_sign_in_code(&phone).await.unwrap();
    let sent = sms.newest_code_to(&phone).unwrap();
    for left in (0..5).rev() {
        let error = refused(
            wallet
                .sign_in(&phone, &wrong(&sent), phone_device(None))
                .await,
        );
        assert_eq!(error.details.unwrap()["attempts_left"], left);
    }
    let late = wallet.sign_in(&phone, &sent, phone_device(None)).await;
    assert_eq!(code(late), "sms_code_attempts_exceeded");

    // Signing out ends that session only.
    wallet.sign_out(&session).await.unwrap();
    let error = refused(wallet.authenticate(&first.token).await);
    assert_eq!(error.kind, ErrorKind::Unauthorized);
    wallet.authenticate(&second.token).await.unwrap();
}

async fn a_real_name_verifies_one_account_once(db: TestDb) {
    let harness = Harness::new(db).await;
    let wallet = harness.wallet();
    let first = harness.kit.sign_in(phone_device(None)).await;
    // Before a real name, no card can be linked.
    let linking = wallet
        .start_card_binding(&first.session, &card(ICBC), "李娜")
        .await;
    assert_eq!(code(linking), "real_name_required");

    let number = resident_id("19900307");
    let identity = |name: &str, number: &str| IdentityInput::ResidentId {
        name: name.to_owned(),
        number: number.to_owned(),
    };
    let error = refused(
        wallet
            .verify_identity(&first.session, identity("李娜1", &number))
            .await,
    );
    assert_eq!(error.code, "name_invalid");
    let mut bad_check = number.clone();
    bad_check.pop();
    bad_check.push(if number.ends_with('0') { '1' } else { '0' });
    let error = refused(
        wallet
            .verify_identity(&first.session, identity("李娜", &bad_check))
            .await,
    );
    assert_eq!(error.kind, ErrorKind::Unprocessable, "{error:?}");
    assert_eq!(
        wallet.profile(&first.session).await.unwrap().kyc_level,
        "L0"
    );

    wallet
        .verify_identity(&first.session, identity(" 李娜 ", &number))
        .await
        .unwrap();
    let profile = wallet.profile(&first.session).await.unwrap();
    assert_eq!(profile.kyc_level, "L1");
    assert_eq!(profile.real_name.as_deref(), Some("李娜"));
    assert_eq!(profile.id_kind.as_deref(), Some("resident_id"));
    let masked = profile.id_number.unwrap();
    assert_ne!(masked, number, "the number is shown masked");
    assert_eq!(masked.len(), number.len());
    let again = wallet
        .verify_identity(&first.session, identity("李娜", &number))
        .await;
    assert_eq!(code(again), "already_verified");

    // The same document cannot verify a second account.
    let second = harness.kit.sign_in(phone_device(None)).await;
    let taken = wallet
        .verify_identity(&second.session, identity("李娜", &number))
        .await;
    assert_eq!(code(taken), "identity_already_used");
    assert_eq!(
        wallet.profile(&second.session).await.unwrap().kyc_level,
        "L0"
    );
}

async fn wrong_pins_lock_payments_until_an_sms_reset(db: TestDb) {
    let harness = Harness::new(db).await;
    let wallet = harness.wallet();
    let consumer = harness.kit.verified("张伟").await;
    let session = &consumer.session;
    assert_eq!(code(wallet.verify_pin(session, PIN).await), "pin_not_set");
    assert_eq!(
        code(wallet.set_pin(session, "123456").await),
        "pin_too_simple"
    );
    assert_eq!(code(wallet.set_pin(session, "25803").await), "pin_syntax");
    wallet.set_pin(session, PIN).await.unwrap();
    assert_eq!(
        code(wallet.set_pin(session, "369258").await),
        "pin_already_set"
    );
    wallet.verify_pin(session, PIN).await.unwrap();
    // An empty entry is not a try.
    assert_eq!(code(wallet.verify_pin(session, " ").await), "pin_missing");

    for left in (1..5).rev() {
        let error = refused(wallet.verify_pin(session, "147036").await);
        assert_eq!(error.code, "pin_incorrect");
        assert_eq!(error.details.unwrap()["attempts_left"], left);
    }
    let error = refused(wallet.verify_pin(session, "147036").await);
    assert_eq!((error.kind, error.code), (ErrorKind::Locked, "pin_locked"));
    // Locked: even the right PIN is refused, and the old PIN cannot change it.
    assert_eq!(code(wallet.verify_pin(session, PIN).await), "pin_locked");
    let proof = PinProof::OldPin(PIN.to_owned());
    assert_eq!(
        code(wallet.change_pin(session, proof, "369258").await),
        "pin_locked"
    );
    assert!(
        wallet
            .profile(session)
            .await
            .unwrap()
            .pin_locked_until
            .is_some()
    );

    // The SMS route changes the PIN and lifts the lock; a wrong code does neither.
    wallet.send_pin_reset_code(session).await.unwrap();
    let sent = harness.kit.sms.newest_code_to(&consumer.phone).unwrap();
    let proof = PinProof::SmsCode(wrong(&sent));
    assert_eq!(
        code(wallet.change_pin(session, proof, "369258").await),
        "sms_code_invalid"
    );
    assert_eq!(code(wallet.verify_pin(session, PIN).await), "pin_locked");
    let proof = PinProof::SmsCode(sent);
    wallet.change_pin(session, proof, "369258").await.unwrap();
    assert!(
        wallet
            .profile(session)
            .await
            .unwrap()
            .pin_locked_until
            .is_none()
    );
    wallet.verify_pin(session, "369258").await.unwrap();
    assert_eq!(code(wallet.verify_pin(session, PIN).await), "pin_incorrect");
    let proof = PinProof::OldPin("369258".to_owned());
    assert_eq!(
        code(wallet.change_pin(session, proof, "369258").await),
        "pin_unchanged"
    );
}

async fn a_card_links_with_the_banks_code_and_sets_the_level(db: TestDb) {
    let harness = Harness::new(db).await;
    let wallet = harness.wallet();
    let consumer = harness.kit.verified("王芳").await;
    let session = &consumer.session;
    let number = card(ICBC);
    let other_name = wallet.start_card_binding(session, &number, "李四").await;
    assert_eq!(code(other_name), "card_holder_mismatch");
    let binding = wallet
        .start_card_binding(session, &number, "王芳")
        .await
        .unwrap();
    assert_eq!(binding.last4, number[number.len() - 4..]);
    let otp = harness.kit.sms.newest_code_to(&consumer.phone).unwrap();
    let wrong_otp = wallet
        .confirm_card_binding(
            session,
            &BindingId::parse(&binding.binding_id).unwrap(),
            &wrong(&otp),
        )
        .await;
    assert_eq!(code(wrong_otp), "otp_invalid");
    assert_eq!(harness.rows_of("cards", &session.user_id).await, 0);

    let linked = wallet
        .confirm_card_binding(
            session,
            &BindingId::parse(&binding.binding_id).unwrap(),
            &otp,
        )
        .await
        .unwrap();
    assert_eq!(linked.last4, binding.last4);
    assert!(
        linked.display.ends_with(&binding.last4),
        "{}",
        linked.display
    );
    assert_eq!(wallet.profile(session).await.unwrap().kyc_level, "L2");
    // Confirming again answers the same card; linking it again is refused.
    let again = wallet
        .confirm_card_binding(
            session,
            &BindingId::parse(&binding.binding_id).unwrap(),
            &otp,
        )
        .await
        .unwrap();
    assert_eq!(again.id, linked.id);
    let twice = wallet.start_card_binding(session, &number, "王芳").await;
    assert_eq!(code(twice), "card_already_linked");
    assert_eq!(harness.rows_of("cards", &session.user_id).await, 1);

    // Another consumer cannot see or remove it.
    let stranger = harness.kit.verified("赵磊").await;
    assert_eq!(
        code(
            wallet
                .card(&stranger.session, &CardId::parse(&linked.id).unwrap())
                .await
        ),
        "card_not_found"
    );
    let removing = wallet
        .remove_card(&stranger.session, &CardId::parse(&linked.id).unwrap())
        .await;
    assert_eq!(code(removing), "card_not_found");

    // Removing the last card returns the account to L1.
    wallet
        .remove_card(session, &CardId::parse(&linked.id).unwrap())
        .await
        .unwrap();
    assert_eq!(wallet.profile(session).await.unwrap().kyc_level, "L1");
    assert!(wallet.cards(session).await.unwrap().is_empty());
    assert_eq!(
        code(
            wallet
                .remove_card(session, &CardId::parse(&linked.id).unwrap())
                .await
        ),
        "card_not_found"
    );
}

both_backends!(
    a_sign_in_code_is_refused_when_wrong_and_works_once,
    a_real_name_verifies_one_account_once,
    wrong_pins_lock_payments_until_an_sms_reset,
    a_card_links_with_the_banks_code_and_sets_the_level,
);
