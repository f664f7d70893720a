-- depends_on: {{ ref('int_answers_scored') }}
{{
    config(
        materialized='incremental',
        unique_key='response_id',
        incremental_strategy='delete+insert',
        partition_by=('response_date' if target.type == 'spark' else none),
        on_schema_change='fail',
        post_hook=[
            "{{ delete_where(this, 'theme_id is null') if is_incremental() }}",
            "{{ delete_answers_no_longer_accepted('ces') }}"
        ],
    )
}}

{%- set watermark = refreshed_watermark() %}
{%- set registry_checksum = graph.nodes['seed.ces_warehouse.comment_themes'].checksum.checksum if execute else '' %}

-- Comment themes: one row per CES answer and theme its comment mentions, from the theme
-- registry (seeds/comment_themes.csv) on the masked comment of fct_ces_responses. A
-- registry row matches a comment of its language (or a comment without a language) when
-- its keyword is in the comment at the start of a word, or its pattern (a regular
-- expression) is found; both are compared as words (normalise_words: lower case, no
-- accents, punctuation and blank runs one blank). Adding a theme or a keyword is a seed
-- row.
--
-- Incremental (issue 21: matching every comment was 24 s of a 10 M-answer daily build):
-- a run re-themes the answers fct_ces_responses rewrote since this table was last
-- written, and every answer when the registry file changed (registry_checksum, the seed
-- file's checksum, differs on a stored row) or the table is empty. A re-themed answer
-- without a theme now writes a row without a theme, so that delete+insert replaces all of
-- its old rows; a post-hook removes those rows, and the rows of answers no longer
-- accepted. `--full-refresh` gives the same rows (tested).

with

{% if is_incremental() %}

retheme_all as (

    select count(*) as n_rows
    from {{ this }}
    where registry_checksum = '{{ registry_checksum }}'
    having count(*) = 0 or (select count(*) from {{ this }}) > count(*)

),

{% endif %}

rewritten as (

    select
        response_id,
        touchpoint_id,
        survey_id,
        responded_at,
        response_date,
        language,
        ease_7pt,
        effort_bucket,
        comment
    from {{ ref('fct_ces_responses') }}
    {%- if is_incremental() %}
    where
        refreshed_at > {{ watermark }}
        or exists (select 1 from retheme_all)
    {%- endif %}

),

comments as (

    select
        *,
        concat(' ', {{ normalise_words('comment') }}, ' ') as words
    from rewritten
    where nullif(trim(comment), '') is not null

),

-- The seed's text columns are varchar on PostgreSQL; the table's contract says text, which
-- an incremental run's schema check compares literally.
registry as (

    select
        cast(theme_id as {{ dbt.type_string() }}) as theme_id,
        cast(theme_label as {{ dbt.type_string() }}) as theme_label,
        lower(trim(language)) as language,
        lower(trim(match_type)) as match_type,
        cast(pattern as {{ dbt.type_string() }}) as pattern,
        {{ normalise_words('pattern') }} as keyword
    from {{ ref('comment_themes') }}

),

registry_languages as (

    select distinct language from registry

),

-- The languages whose registry rows apply to a comment: its own, or every language of
-- the registry for a comment without one (so that matching is one equi-join).
comment_languages as (

    select
        response_id,
        language
    from comments
    where language is not null

    union all

    select
        c.response_id,
        l.language
    from comments as c
    cross join registry_languages as l
    where c.language is null

),

-- A registry row's keyword or pattern found in the comment's words.
matches as (

    select
        c.response_id,
        r.theme_id,
        r.theme_label,
        r.pattern
    from comment_languages as cl
    inner join comments as c on cl.response_id = c.response_id
    inner join registry as r on cl.language = r.language
    where
        (r.match_type = 'keyword' and c.words like concat('% ', r.keyword, '%'))
        or (r.match_type = 'pattern' and {{ regex_search('c.words', 'r.pattern') }})

),

by_theme as (

    select
        response_id,
        theme_id,
        min(theme_label) as theme_label,
        min(pattern) as matched_pattern,
        count(*) as n_patterns_matched
    from matches
    group by 1, 2

),

-- An incremental run keeps every re-themed answer, a theme-less row (the left join) for one
-- without a theme now, so that delete+insert replaces all of its old rows; the post-hook
-- removes those rows.
themed as (

    select
        c.response_id,
        t.theme_id,
        t.theme_label,
        c.touchpoint_id,
        c.survey_id,
        c.responded_at,
        c.response_date,
        c.language,
        c.ease_7pt,
        c.effort_bucket,
        t.matched_pattern,
        cast(t.n_patterns_matched as integer) as n_patterns_matched
    from rewritten as c
    {{ 'left' if is_incremental() else 'inner' }} join by_theme as t on c.response_id = t.response_id

),

final as (

    select
        *,
        '{{ registry_checksum }}' as registry_checksum,
        {{ run_started_timestamp() }} as refreshed_at
    from themed

)

select * from final
