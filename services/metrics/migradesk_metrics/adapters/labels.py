"""What the dashboard's tables are called in the page's language: dimensions, indicators, columns, row labels (a
nationality by its country's name, a language by its name...), months, and each figure formatted for the locale.
The pages and the exports read the same names, so a file says what its page said."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from babel import dates, numbers

from migradesk_metrics.domain.dashboard import Table, Value
from migradesk_metrics.domain.indicators import LAST_BOUND_HOURS
from migradesk_shared.contracts.vocabulary import DeclineReason, MigratoryStatus, ServiceArea, Sex
from migradesk_shared.web.i18n import N_, format_number, formatting_locale
from migradesk_shared.web.names import country_name, language_names

DIMENSION_LABELS: dict[int, str] = {
    1: N_("Institutional structure and local strategy"),
    2: N_("Training of public servants"),
    3: N_("Social and cultural participation"),
    4: N_("Transparency and access to information"),
    5: N_("Institutional partnerships"),
    6: N_("Health"),
    7: N_("Education"),
    8: N_("Social assistance"),
    9: N_("Labour market"),
    10: N_("Protection"),
}

# Each indicator (and the columns named like one): its name, and what it counts (the report's method notes).
INDICATOR_LABELS: dict[str, str] = {
    "cases_opened": N_("Cases opened"),
    "requests_logged": N_("Requests logged"),
    "requests_resolved_at_desk": N_("Requests resolved at the desk"),
    "time_request_to_referral_median": N_("Time from request to referral, median (hours)"),
    "time_request_to_referral_p90": N_("Time from request to referral, 90th percentile (hours)"),
    "trainings_held": N_("Trainings held"),
    "servants_trained": N_("Public servants trained"),
    "participation_events": N_("Participatory and cultural events"),
    "migrant_participants": N_("Migrant participants"),
    "cases_attended_in_own_language": N_("Cases attended in the person's language"),
    "cases_attended_in_own_language_pct": N_("Share of cases attended in the person's language"),
    "information_materials": N_("Information materials published"),
    "active_partner_agencies": N_("Active partner agencies"),
    "requests": N_("Requests"),
    "referrals": N_("Referrals"),
    "accepted": N_("Accepted"),
    "accepted_pct": N_("Accepted (share of referrals)"),
    "completed": N_("Completed"),
    "completed_with_help_pct": N_("Completed with help (share of completed)"),
    "time_to_acceptance_median": N_("Time to acceptance, median (hours)"),
    "time_to_acceptance_p90": N_("Time to acceptance, 90th percentile (hours)"),
    "time_to_completion_median": N_("Time to completion, median (hours)"),
    "time_to_completion_p90": N_("Time to completion, 90th percentile (hours)"),
    "overdue": N_("Overdue"),
    "overdue_pct": N_("Overdue (share of referrals)"),
    "declined": N_("Declined"),
    "referrals_declined": N_("Declined"),
    "needing_manual_routing": N_("Needing manual routing"),
    "acceptance_rate": N_("Acceptance rate"),
    "instruments_in_force": N_("Governance instruments in force"),
    "mapping_studies": N_("Mapping and diagnostic studies"),
    "projects": N_("Projects"),
    "awareness_campaigns": N_("Awareness campaigns"),
    "people_reached": N_("People reached by the campaigns"),
    "advocacy_actions": N_("Advocacy actions"),
    "bodies_with_migrant_seats": N_("Committees and councils with migrant seats"),
    "migrant_seats": N_("Seats held by migrants"),
    "partnership_agreements_in_force": N_("Partnership agreements in force"),
    "network_meetings": N_("Network meetings"),
}
INDICATOR_NOTES: dict[str, str] = {
    "cases_opened": N_("Visits registered at the desk in the month."),
    "requests_logged": N_("Requests made in those visits, whatever their area."),
    "requests_resolved_at_desk": N_("Requests the desk resolved itself (documents, legal guidance)."),
    "time_request_to_referral_median": N_("Hours from a request logged at the desk to its referral to a partner "
                                          "agency."),
    "trainings_held": N_("Trainings of public servants held in the month."),
    "servants_trained": N_("Public servants who took part, by their sector."),
    "participation_events": N_("Participatory and cultural events held in the month."),
    "migrant_participants": N_("Migrants who took part in them."),
    "cases_attended_in_own_language": N_("Visits in which the desk spoke the person's own language."),
    "information_materials": N_("Information materials published, by language."),
    "active_partner_agencies": N_("Agencies that received at least one referral in the month."),
    "requests": N_("Requests of the area logged in the month."),
    "referrals": N_("Referrals made to a partner agency in the month."),
    "accepted": N_("Referrals an agency accepted in the month; the share is of the referrals made."),
    "completed": N_("Referrals completed in the month; the share is of those that ended with the help needed."),
    "time_to_acceptance_median": N_("Hours from the referral to its acceptance: the median (half of them were "
                                    "faster) and the 90th percentile, each within 2.5 per cent of the exact "
                                    "time."),
    "time_to_completion_median": N_("Hours from the referral to its completion, read the same way."),
    "overdue": N_("Referrals left unanswered past their area's deadline."),
    "declined": N_("Referrals an agency declined, by the reason given."),
    "needing_manual_routing": N_("Requests no agency could take: the coordination routes them."),
    "instruments_in_force": N_("Laws, decrees and municipal plans in force at the end of the period, from the "
                               "governance register."),
    "mapping_studies": N_("Mappings and diagnostic studies of the migrant population in the period."),
    "awareness_campaigns": N_("Campaigns for public servants, civil society or migrants, and the people they "
                              "reached."),
    "advocacy_actions": N_("Advocacy actions in the period."),
    "bodies_with_migrant_seats": N_("Committees and councils in force at the end of the period, and the seats "
                                    "migrants hold in them."),
    "partnership_agreements_in_force": N_("Partnership agreements in force at the end of the period."),
    "network_meetings": N_("Meetings of the local network of services and civil society in the period."),
}

TABLE_TITLES: dict[str, str] = {
    "indicators": N_("Indicators"),
    "trend": N_("Month by month"),
    "requests_by_area": N_("Requests by service area"),
    "cases_opened_by_nationality": N_("Cases opened by nationality"),
    "cases_opened_by_sex": N_("Cases opened by sex"),
    "cases_opened_by_age_band": N_("Cases opened by age band"),
    "cases_opened_by_migratory_status": N_("Cases opened by migratory status"),
    "cases_opened_by_language": N_("Cases opened by language"),
    "servants_trained_by_sector": N_("Public servants trained by sector"),
    "participation_events_by_kind": N_("Events by kind"),
    "awareness_campaigns_by_audience": N_("Awareness campaigns by audience"),
    "instruments_in_force_1": N_("Laws, decrees and plans in force"),
    "instruments_in_force_3": N_("Committees and councils in force"),
    "instruments_in_force_5": N_("Partnership agreements in force"),
    "information_materials_by_language": N_("Information materials by language"),
    "partners": N_("Partner agencies"),
    "decline_reasons": N_("Declines by reason"),
    "by_nationality": N_("Requests and referrals by nationality"),
    "by_sex": N_("Requests and referrals by sex"),
    "by_age_band": N_("Requests and referrals by age band"),
    "by_migratory_status": N_("Requests and referrals by migratory status"),
    "by_language": N_("Requests and referrals by language"),
}
ROW_KINDS: dict[str, str] = {
    "indicator": N_("Indicator"),
    "month": N_("Month"),
    "area": N_("Service area"),
    "nationality": N_("Nationality"),
    "sex": N_("Sex"),
    "age_band": N_("Age band"),
    "migratory_status": N_("Migratory status"),
    "language": N_("Language"),
    "agency": N_("Partner agency"),
    "reason": N_("Reason"),
    "sector": N_("Sector"),
    "kind": N_("Kind of event"),
    "audience": N_("Audience"),
    "instrument_kind": N_("Kind of instrument"),
}
AREA_LABELS: dict[str, str] = {
    ServiceArea.HEALTH.value: N_("Health"),
    ServiceArea.EDUCATION.value: N_("Education"),
    ServiceArea.SOCIAL_ASSISTANCE.value: N_("Social assistance"),
    ServiceArea.WORK.value: N_("Work"),
    ServiceArea.PROTECTION.value: N_("Protection"),
    "desk": N_("Resolved at the desk"),
}
CODE_LABELS: dict[str, dict[str, str]] = {
    "sex": {Sex.NOT_INFORMED.value: N_("Not stated"), Sex.FEMALE.value: N_("Female"), Sex.MALE.value: N_("Male"),
            Sex.INTERSEX.value: N_("Intersex")},
    "migratory_status": {
        MigratoryStatus.ASYLUM_SEEKER.value: N_("Asylum seeker"),
        MigratoryStatus.REFUGEE.value: N_("Refugee"),
        MigratoryStatus.TEMPORARY_RESIDENCE.value: N_("Temporary residence"),
        MigratoryStatus.HUMANITARIAN_RECEPTION.value: N_("Humanitarian reception"),
        MigratoryStatus.STATELESS.value: N_("Stateless"),
        MigratoryStatus.BORDER_RESIDENT.value: N_("Border resident"),
        MigratoryStatus.UNDOCUMENTED.value: N_("Undocumented"),
        MigratoryStatus.OTHER.value: N_("Another migratory status"),
    },
    "reason": {
        DeclineReason.NO_CAPACITY.value: N_("No capacity to take it"),
        DeclineReason.OUT_OF_SCOPE.value: N_("Not a service the agency offers"),
        DeclineReason.MISSING_DOCUMENTS.value: N_("Required documents missing"),
        DeclineReason.OUT_OF_TERRITORY.value: N_("Outside the agency's territory"),
        DeclineReason.OTHER.value: N_("Another reason"),
    },
    "kind": {"participatory": N_("Participatory"), "cultural": N_("Cultural")},
    "audience": {"public_servants": N_("Public servants"), "civil_society": N_("Civil society"),
                 "migrants": N_("Migrants")},
    "instrument_kind": {"law": N_("Law"), "decree": N_("Decree"), "municipal_plan": N_("Municipal plan"),
                        "committee": N_("Committee"), "council": N_("Council"),
                        "partnership_agreement": N_("Partnership agreement")},
    "sector": AREA_LABELS,
    "area": AREA_LABELS,
}
# Durations beyond the histograms' last bound are only known to be longer than it.
LAST_BOUND = int(LAST_BOUND_HOURS)
UNKNOWN = N_("Not known")
TOTAL = N_("Total")
NO_DATA = N_("no data")
SUPPRESSION_RULE = N_("Counts from 1 to %(below)s are shown as \"<%(threshold)s\" so that nobody can be recognised "
                      "from them; other figures are hidden as \"x\" where they would let a hidden count be worked "
                      "out from the totals, and so is a share or a time computed from a hidden count.")
AGGREGATES_ONLY = N_("Aggregates only: the metrics service never receives a name, a document or a contact.")


@dataclass(frozen=True)
class Names:
    """Names and formatting in one language."""

    locale: str
    gettext: Callable[[str], str]

    def dimension(self, dimension: int) -> str:
        return self.gettext(DIMENSION_LABELS[dimension])

    def month(self, period: str) -> str:
        """A month by its name ("novembro de 2026"), a year as its number."""
        if len(period) == 4:
            return period
        year, month = (int(part) for part in period.split("-"))
        return dates.format_skeleton("yMMMM", date(year, month, 1), locale=formatting_locale(self.locale))

    def title(self, table: Table) -> str:
        return self.gettext(TABLE_TITLES[table.key])

    def row_kind(self, table: Table) -> str:
        return self.gettext(ROW_KINDS[table.row_kind])

    def column(self, table: Table, key: str) -> str:
        if table.row_kind == "indicator":
            return self.month(key)  # the indicators' columns are the months compared
        return self.gettext(INDICATOR_LABELS[key])

    def row(self, table: Table, code: str) -> str:
        kind = table.row_kind
        if kind == "indicator":
            return self.gettext(INDICATOR_LABELS[code])
        if kind == "month":
            return self.month(code)
        if code == "unknown":
            return self.gettext(UNKNOWN)
        if kind == "nationality":
            return country_name(code, self.locale)
        if kind == "language":
            return dict(language_names(self.locale, self.gettext)).get(code, code)
        labels = CODE_LABELS.get(kind, {})
        return self.gettext(labels[code]) if code in labels else code

    def value(self, value: Value) -> str:
        """A figure as the page shows it: "<5" and "x" as published, "no data" where there is nothing to
        measure, shares as percentages, hours beyond the last bound as "> 720"."""
        figure = value.figure
        if figure is None:
            return self.gettext(NO_DATA)
        if isinstance(figure, str):
            return figure
        if value.unit == "pct":
            return numbers.format_percent(figure, "#,##0.#%", locale=formatting_locale(self.locale))
        if isinstance(figure, float) and math.isinf(figure):
            return "> " + format_number(LAST_BOUND, self.locale)
        return format_number(figure, self.locale)

    def suppression_rule(self, threshold: int) -> str:
        return self.gettext(SUPPRESSION_RULE) % {"below": threshold - 1, "threshold": threshold}


def machine_value(value: Value) -> int | float | str:
    """A figure as a file for machines holds it: numbers plain (shares as fractions), "<5" and "x" as published,
    "" for no data, ">720" for hours beyond the last bound."""
    figure = value.figure
    if figure is None:
        return ""
    if isinstance(figure, float) and math.isinf(figure):
        return f">{LAST_BOUND}"
    return figure

