-- Comment themes: one row per CES answer and theme its comment mentions, from the theme
-- registry (seeds/comment_themes.csv) on the masked comment of fct_ces_responses. A
-- registry row matches a comment of its language (or a comment without a language) when
-- its keyword is in the comment at the start of a word, or its pattern (a regular
-- expression) is found; both are compared as words (normalise_words: lower case, no
-- accents, punctuation and blank runs one blank). Adding a theme or a keyword is a seed
-- row. A table rebuilt by every run (a registry change re-themes every comment).

with

comments as (

    select
        response_id,
        touchpoint_id,
        survey_id,
        responded_at,
        response_date,
        language,
        ease_7pt,
        effort_bucket,
        concat(' ', {{ normalise_words('comment') }}, ' ') as words
    from {{ ref('fct_ces_responses') }}
    where nullif(trim(comment), '') is not null

),

registry as (

    select
        theme_id,
        theme_label,
        lower(trim(language)) as language,
        lower(trim(match_type)) as match_type,
        pattern,
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

final as (

    select
        t.response_id,
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
    from by_theme as t
    inner join comments as c on t.response_id = c.response_id

)

select * from final
