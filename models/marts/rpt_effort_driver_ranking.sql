-- Which ticket driver costs the most ease? For each driver, the CES answers linked to a
-- ticket with the driver present (reopened at least once, transferred at least once, a
-- repeat contact, a channel switch: fct_ticket_effort) against those linked to a ticket
-- without it: the ease it costs (mean ease_7pt without minus with) with a Welch 95 %
-- interval, the test's p-value raw and Holm-corrected across the drivers, and Hedges' g.
-- Ranked by the ease it costs, most first. Defined in docs/metrics.md, "Effort drivers".

with

linked as (

    select
        r.ease_7pt,
        r.ticket_reopen_count,
        r.ticket_transfer_count,
        t.is_repeat_contact,
        t.is_channel_switch
    from {{ ref('fct_ces_responses') }} as r
    left join {{ ref('fct_ticket_effort') }} as t on r.ticket_id = t.ticket_id
    where r.ticket_id is not null

),

flags as (

    {%- set drivers = [
        ('reopened', 'Ticket reopened', 'ticket_reopen_count > 0'),
        ('transferred', 'Ticket transferred', 'ticket_transfer_count > 0'),
        ('repeat_contact', 'Customer contacted again within ' ~ var('repeat_contact_days') ~ ' days', 'is_repeat_contact'),
        ('channel_switch', 'Customer switched channels within ' ~ var('repeat_contact_days') ~ ' days', 'is_channel_switch'),
    ] %}
    {% for driver, label, present in drivers %}
        select
            '{{ driver }}' as driver,
            '{{ label }}' as driver_label,
            {{ present }} as is_present,
            ease_7pt
        from linked
        where {{ present }} is not null
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

groups as (

    select
        driver,
        driver_label,
        {{ two_group_moments('is_present', 'ease_7pt', 'with', 'without') }}
    from flags
    group by 1, 2

),

tested as (

    select
        *,
        mean_without - mean_with as ease_cost_7pt,
        sqrt({{ welch_se2('var_with', 'n_with', 'var_without', 'n_without') }}) as cost_se,
        {{ welch_test('mean_with', 'var_with', 'n_with', 'mean_without', 'var_without', 'n_without') }},
        {{ hedges_g('mean_with', 'var_with', 'n_with', 'mean_without', 'var_without', 'n_without') }} as hedges_g
    from groups

),

with_p as (

    select
        *,
        {{ t_p_value('welch_t', 'welch_df') }} as welch_p_value
    from tested

),

holm_ordered as (

    select
        *,
        {{ holm_order('welch_p_value', none, 'driver') }}
    from with_p

),

adjusted as (

    select
        *,
        {{ holm_adjusted_p('welch_p_value', none, 'driver') }} as holm_p_value,
        {{ t_quantile_975('welch_df') }} * cost_se as cost_ci95_half_width
    from holm_ordered

),

final as (

    select
        driver,
        driver_label,
        cast(rank() over (order by ease_cost_7pt desc nulls last) as integer) as cost_rank,
        cast(n_with as bigint) as n_responses_with,
        cast(n_without as bigint) as n_responses_without,
        mean_with as ces_mean_7pt_with,
        mean_without as ces_mean_7pt_without,
        ease_cost_7pt,
        ease_cost_7pt - cost_ci95_half_width as ease_cost_ci95_low,
        ease_cost_7pt + cost_ci95_half_width as ease_cost_ci95_high,
        welch_t,
        welch_df,
        welch_p_value,
        holm_p_value,
        coalesce(holm_p_value < 0.05, false) as is_significant_holm,
        hedges_g,
        coalesce(n_with < 30 or n_without < 30, true) as is_low_sample
    from adjusted

)

select * from final
