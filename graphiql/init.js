// LearnGraph's GraphiQL: served by the service itself (no CDN), one example tab per domain.
// Signed-in examples need a bearer token: paste it into the Headers tab.
(function () {
  'use strict';
  var TOKEN = '{\n  "Authorization": "Bearer paste-a-token-here"\n}';
  var examples = [
    {
      query:
        '# Course discovery: the newest published courses.\n' +
        '# Try filter: { levels: [BEGINNER] }, search: "rust",\n' +
        '# orderBy: RATING, or the next page with after: endCursor.\n' +
        'query Discovery($first: Int = 10) {\n' +
        '  courses(first: $first, orderBy: NEWEST) {\n' +
        '    totalCount\n' +
        '    nodes {\n' +
        '      slug title level price rating lessonCount\n' +
        '      category { name }\n' +
        '      instructor { firstName lastName }\n' +
        '    }\n' +
        '    pageInfo { hasNextPage endCursor }\n' +
        '  }\n' +
        '}\n',
      variables: '{\n  "first": 10\n}',
    },
    {
      query:
        '# A course page: a slug from Discovery goes in Variables.\n' +
        'query CoursePage($slug: String) {\n' +
        '  course(slug: $slug) {\n' +
        '    title description price rating tags\n' +
        '    instructor { firstName lastName }\n' +
        '    lessons { position title durationMinutes isFree }\n' +
        '  }\n' +
        '}\n',
      variables: '{\n  "slug": "a-slug-from-discovery"\n}',
    },
    {
      query:
        '# The signed-in learner\'s dashboard:\n' +
        '# paste a bearer token into Headers.\n' +
        'query Dashboard {\n' +
        '  me {\n' +
        '    enrollments(first: 10) {\n' +
        '      nodes {\n' +
        '        course { slug title }\n' +
        '        progress { lessons { lessonId completionPercentage } }\n' +
        '      }\n' +
        '    }\n' +
        '  }\n' +
        '}\n',
      headers: TOKEN,
    },
    {
      query:
        '# A quiz with the signed-in learner\'s attempts:\n' +
        '# paste a bearer token into Headers.\n' +
        'query Quiz($id: ID!) {\n' +
        '  quiz(id: $id) {\n' +
        '    title passingScore\n' +
        '    questions { id prompt }\n' +
        '    myAttempts { attemptNumber score isPassed }\n' +
        '  }\n' +
        '}\n',
      variables: '{\n  "id": "a-quiz-id"\n}',
      headers: TOKEN,
    },
  ];
  var fetcher = GraphiQL.createFetcher({ url: window.location.origin + '/graphql' });
  var props = {
    fetcher: fetcher,
    defaultTabs: examples,
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: false,
    defaultEditorToolsVisibility: true,
  };
  // GraphiQL (3.8) fills the editors of the first default tab with its query only: on a first
  // visit, hand it that tab's variables too. Once tabs are stored, they come back as they were
  // left (passing variables then would open an extra tab).
  if (!storedTabs()) {
    props.variables = examples[0].variables;
  }
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(React.createElement(GraphiQL, props));

  function storedTabs() {
    try {
      return window.localStorage.getItem('graphiql:tabState');
    } catch (e) {
      return null; // storage blocked: GraphiQL keeps its tabs in memory
    }
  }
})();
