//! `bm-verify`: checks draw receipts against a revealed seed (issue #16, docs/fairness.md).
//! Reads files only — no database, no network.
//!
//! ```text
//! bm-verify FAIRNESS.json RECEIPT.json [RECEIPT.json ...]
//! ```
//! `FAIRNESS.json` is the answer of `StrategyService/GetFairness` (or
//! `RaffleService/GetFairness`) as grpcurl prints it; each `RECEIPT.json` an answer of
//! `GetDrawReceipt` (one object, or an array of them). Field names may be camelCase (proto
//! JSON) or snake_case; 64-bit numbers may be strings. Exit status: 0 when every receipt
//! follows, 1 when one does not, 2 on unreadable input.

use std::process::ExitCode;

use bm_strategy::fairness::{Receipt, RevealedEpoch, Seed, StockOutcome, verify};
use serde_json::Value;

/// A field by its proto JSON (camelCase) or proto (snake_case) name.
fn field<'a>(object: &'a Value, snake: &str) -> Option<&'a Value> {
    let camel: String = snake
        .split('_')
        .enumerate()
        .map(|(i, part)| if i == 0 { part.to_owned() } else { part[..1].to_uppercase() + &part[1..] })
        .collect();
    object.get(&camel).or_else(|| object.get(snake))
}

/// A number field; proto JSON writes 64-bit numbers as strings and omits zeros.
fn number(object: &Value, name: &str) -> Result<i64, String> {
    match field(object, name) {
        None => Ok(0),
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| format!("{name}: {n} is not a whole number")),
        Some(Value::String(s)) => s.parse().map_err(|_| format!("{name}: {s:?} is not a whole number")),
        Some(other) => Err(format!("{name}: {other} is not a number")),
    }
}

/// A text field; proto JSON omits empty strings.
fn text(object: &Value, name: &str) -> Result<String, String> {
    match field(object, name) {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(format!("{name}: {other} is not text")),
    }
}

fn int32(object: &Value, name: &str) -> Result<i32, String> {
    i32::try_from(number(object, name)?).map_err(|_| format!("{name}: out of range"))
}

fn receipt(object: &Value) -> Result<Receipt, String> {
    let outcome = text(object, "stock_outcome")?;
    Ok(Receipt {
        strategy_id: number(object, "strategy_id")?,
        order_id: text(object, "order_id")?,
        user_id: text(object, "user_id")?,
        epoch: int32(object, "epoch")?,
        total_partake_count: number(object, "user_total_partake_count")?,
        day_partake_count: number(object, "user_day_partake_count")?,
        chain_model: text(object, "chain_model")?,
        chain_award_id: int32(object, "chain_award_id")?,
        stock_outcome: StockOutcome::parse(&outcome).ok_or_else(|| format!("stock_outcome: {outcome:?} is unknown"))?,
        award_id: int32(object, "award_id")?,
        award_config: text(object, "award_config")?,
        rule_model: text(object, "rule_model")?,
    })
}

fn read(path: &str) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{path}: not JSON: {e}"))
}

/// The receipt's epoch in the fairness answer: (seed, commitment, sheet, sheet hash).
fn epoch_of(fairness: &Value, receipt: &Receipt) -> Result<(Seed, String, String, String), String> {
    let epochs = field(fairness, "epochs").and_then(Value::as_array).ok_or("the fairness file has no epochs")?;
    let epoch = epochs
        .iter()
        .find(|e| int32(e, "epoch").ok() == Some(receipt.epoch))
        .ok_or_else(|| format!("epoch {} is not in the fairness file", receipt.epoch))?;
    let seed = text(epoch, "seed")?;
    if seed.is_empty() {
        return Err(format!("epoch {} is still active: its seed is not revealed yet", receipt.epoch));
    }
    let seed = Seed::from_hex(&seed).ok_or("the revealed seed is not 64 hex digits")?;
    Ok((seed, text(epoch, "commitment")?, text(epoch, "sheet")?, text(epoch, "sheet_sha256")?))
}

#[expect(clippy::print_stdout, clippy::print_stderr, reason = "a command-line verdict")]
fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 || args.iter().any(|a| a == "-h" || a == "--help") {
        eprintln!("usage: bm-verify FAIRNESS.json RECEIPT.json [RECEIPT.json ...]");
        return ExitCode::from(2);
    }
    let fairness = match read(&args[0]) {
        Ok(value) => value,
        Err(error) => {
            eprintln!("bm-verify: {error}");
            return ExitCode::from(2);
        }
    };
    let mut rejected = 0;
    for path in &args[1..] {
        let value = match read(path) {
            Ok(value) => value,
            Err(error) => {
                eprintln!("bm-verify: {error}");
                return ExitCode::from(2);
            }
        };
        let objects = match value {
            Value::Array(items) => items,
            object => vec![object],
        };
        for object in objects {
            let verdict = receipt(&object).and_then(|receipt| {
                let (seed, commitment, sheet, sheet_sha256) = epoch_of(&fairness, &receipt)?;
                let epoch = RevealedEpoch {
                    epoch: receipt.epoch,
                    seed: &seed,
                    commitment: &commitment,
                    sheet: &sheet,
                    sheet_sha256: &sheet_sha256,
                };
                verify(&epoch, &receipt).map_err(|e| e.to_string())?;
                Ok(receipt)
            });
            match verdict {
                Ok(receipt) => println!(
                    "ok        order {}: award {} ({}) follows from epoch {} and the recorded inputs",
                    receipt.order_id, receipt.award_id, receipt.rule_model, receipt.epoch
                ),
                Err(reason) => {
                    rejected += 1;
                    println!("REJECTED  {path}: {reason}");
                }
            }
        }
    }
    if rejected == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
