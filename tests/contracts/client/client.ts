// A frontend's use of the API through the types openapi-typescript generates from the
// gateway's aggregated OpenAPI document (tests/contracts/test_openapi_tools.py writes
// them to ./api.d.ts beside a copy of this file and runs tsc --noEmit): a list, a
// creation and an error. An answer documented as a bare object fails to type-check here.
import type { components, operations } from "./api";

type Json<T> = T extends { content: { "application/json": infer Body } } ? Body : never;
type Problem = components["schemas"]["Problem"];

type EventPage = Json<operations["events.list"]["responses"][200]>;
type Booking = Json<operations["bookings.create"]["responses"][201]>;
type BookingRequest = NonNullable<
  operations["bookings.create"]["requestBody"]
>["content"]["application/json"];
type Refusal = operations["bookings.create"]["responses"][422]["content"]["application/problem+json"];

export function titles(page: EventPage, language: string): string[] {
  return page.items.map((event) => {
    const when = new Date(event.starts_at).toISOString();
    return `${event.title[language] ?? event.id} ${when} ${event.seats_free ?? "free"}`;
  });
}

// Every collection's page: `next` is the next page's link, or null on the last.
export async function everyTitle(first: EventPage, language: string): Promise<string[]> {
  const found: string[] = [];
  let page: EventPage | null = first;
  while (page) {
    found.push(...titles(page, language));
    const next: string | null = page.next;
    page = next ? ((await (await fetch(next)).json()) as EventPage) : null;
  }
  return found;
}

export function bookingRequest(resourceId: string, start: Date, end: Date): BookingRequest {
  return {
    resource_id: resourceId,
    starts_at: start.toISOString(),
    ends_at: end.toISOString(),
    people: 1,
  };
}

export function confirmation(booking: Booking): string {
  const code: string | null | undefined = booking.access_code;
  return `${booking.id}: ${booking.status} at ${booking.starts_at} (${code ?? "no code"})`;
}

export function explain(refusal: Refusal | Problem): string {
  const fields = (refusal.errors ?? []).map((error) => String(error["field"]));
  return `${refusal.status} ${refusal.title}: ${fields.join(", ")}`;
}
