/** The demo's profiles: those of its events (a subquery with the {prefix:String} parameter). */
export const demoProfiles = 'SELECT DISTINCT profile_id FROM events WHERE startsWith(message_id, {prefix:String})';
