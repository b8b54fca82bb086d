/** The privacy key (KUMIKI_PRIVACY_KEY) every service a test starts shares; 64 hex characters. */
export const testPrivacyKey = '6b756d696b692d746573742d707269766163792d6b65792d3030303030303030';
