SELECT * FROM `windows_events`
WHERE (lower(CAST(`Channel` AS STRING)) = 'windows powershell' AND CAST(`EventID` AS STRING) = '400' AND lower(CAST(`Message` AS STRING)) LIKE '%hostapplication%wsmprovhost%')
