//! Uniswap V2 constant-product swap, exactly as `UniswapV2Library.getAmountOut`.

use super::{MathError, FEE_DENOMINATOR, U256};

/// Reserves of a V2 pair; the only state a swap changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V2State {
    pub reserve0: U256,
    pub reserve1: U256,
}

/// `amountIn * (1e6 - fee) * rOut / (rIn * 1e6 + amountIn * (1e6 - fee))`, floored.
///
/// With `fee_pips = 3000` this equals the contract's 997/1000 formula bit for bit: every
/// term is the contract's scaled by 1000, which a floor division cancels.
pub fn amount_out(
    reserve_in: U256,
    reserve_out: U256,
    amount_in: U256,
    fee_pips: u32,
) -> Result<U256, MathError> {
    if amount_in.is_zero() {
        return Ok(U256::ZERO);
    }
    if reserve_in.is_zero() || reserve_out.is_zero() {
        return Err(MathError::InsufficientLiquidity);
    }
    let keep = U256::from(
        FEE_DENOMINATOR
            .checked_sub(fee_pips)
            .ok_or(MathError::Overflow)?,
    );
    let in_with_fee = amount_in.checked_mul(keep).ok_or(MathError::Overflow)?;
    let numerator = in_with_fee
        .checked_mul(reserve_out)
        .ok_or(MathError::Overflow)?;
    let denominator = reserve_in
        .checked_mul(U256::from(FEE_DENOMINATOR))
        .and_then(|d| d.checked_add(in_with_fee))
        .ok_or(MathError::Overflow)?;
    Ok(numerator / denominator)
}

/// Swap `amount_in` of token0 (`zero_for_one`) or token1; returns the output and new reserves.
pub fn swap(
    state: V2State,
    zero_for_one: bool,
    amount_in: U256,
    fee_pips: u32,
) -> Result<(U256, V2State), MathError> {
    let (r_in, r_out) = if zero_for_one {
        (state.reserve0, state.reserve1)
    } else {
        (state.reserve1, state.reserve0)
    };
    let out = amount_out(r_in, r_out, amount_in, fee_pips)?;
    let new_in = r_in.checked_add(amount_in).ok_or(MathError::Overflow)?;
    let new_out = r_out - out; // out < r_out always: numerator/denominator < r_out
    let next = if zero_for_one {
        V2State {
            reserve0: new_in,
            reserve1: new_out,
        }
    } else {
        V2State {
            reserve0: new_out,
            reserve1: new_in,
        }
    };
    Ok((out, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(v: u128) -> U256 {
        U256::from(v)
    }

    #[test]
    fn matches_the_997_over_1000_formula() {
        let (r_in, r_out) = (u(1_000_000_000_000), u(2_500_000_000_000_000));
        for a in [1u128, 7, 1_000, 123_456_789, 10_u128.pow(15)] {
            let contract = u(a) * u(997) * r_out / (r_in * u(1000) + u(a) * u(997));
            assert_eq!(amount_out(r_in, r_out, u(a), 3000).unwrap(), contract);
        }
    }

    #[test]
    fn swap_updates_reserves_and_keeps_k() {
        let s = V2State {
            reserve0: u(10_000),
            reserve1: u(20_000),
        };
        let (out, next) = swap(s, true, u(1000), 3000).unwrap();
        assert_eq!(next.reserve0, u(11_000));
        assert_eq!(next.reserve1, u(20_000) - out);
        assert!(next.reserve0 * next.reserve1 >= s.reserve0 * s.reserve1);
    }

    #[test]
    fn empty_pool_and_overflow_are_errors() {
        assert_eq!(
            amount_out(U256::ZERO, u(5), u(1), 3000),
            Err(MathError::InsufficientLiquidity)
        );
        assert_eq!(
            amount_out(U256::MAX, U256::MAX, U256::MAX, 3000),
            Err(MathError::Overflow)
        );
        assert_eq!(amount_out(u(5), u(5), U256::ZERO, 3000), Ok(U256::ZERO));
    }
}
